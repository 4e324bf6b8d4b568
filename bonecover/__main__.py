"""``python -m bonecover`` runs the command line."""

from bonecover.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
