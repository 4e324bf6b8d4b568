"""bonecover: soft-tissue coverage of the first-toe bones, affected vs mirrored healthy foot.

The command line (``bonecover``) is a thin layer over this Python API.
"""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("bonecover")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

from bonecover.errors import AnalysisError, BonecoverError, InputError
from bonecover.volume import Volume

__all__ = ["AnalysisError", "BonecoverError", "InputError", "Volume", "__version__"]
