"""Atomic file writing: a crash never leaves a half-written output behind."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomic(path: Path, write: Callable[[Path], None], *, overwrite: bool = True) -> Path:
    """Write ``path`` by calling ``write(tmp)`` on a temporary sibling, then renaming.

    Parameters
    ----------
    path : final destination; its folder must exist.
    write : callable that fills the temporary file it is given.
    overwrite : when False, an existing ``path`` is never replaced (``FileExistsError``);
        the check and the rename are one step (a hard link) where the file system allows.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
        if overwrite:
            os.replace(tmp, path)
        else:
            _publish_new(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _publish_new(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)  # fails if path exists: no window in which another file is replaced
    except FileExistsError:
        raise FileExistsError(f"{path} already exists; bonecover never overwrites a file") from None
    except OSError:  # no hard links here (some network or FAT file systems)
        if path.exists():
            raise FileExistsError(f"{path} already exists; bonecover never overwrites a file") from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def write_bytes_atomic(path: Path, data: bytes, *, overwrite: bool = True) -> Path:
    """Write bytes to ``path`` atomically (see :func:`write_atomic` for ``overwrite``)."""
    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    return write_atomic(path, write, overwrite=overwrite)


def write_text_atomic(path: Path, text: str) -> Path:
    """Write UTF-8 text to ``path`` atomically."""
    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return write_atomic(path, write)


def write_json_atomic(path: Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically (NaN refused: not valid JSON)."""
    text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    return write_text_atomic(path, text)
