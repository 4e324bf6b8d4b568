"""All file input and output of bonecover lives in this package."""
