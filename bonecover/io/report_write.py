"""Write a comparison's outputs into its output folder, atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bonecover.errors import InputError
from bonecover.io.atomic import write_json_atomic

__all__ = ["check_output_dir", "write_report_json"]


def check_output_dir(out: Path) -> Path:
    """Accept a new or empty folder; refuse one that holds anything (never overwrite).

    Nothing is created here, so a run that fails on its input leaves no trace.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"output folder {out} already exists and is not empty; choose a new folder")
    return out


def write_report_json(document: dict[str, Any], out: Path) -> Path:
    """Write ``report.json`` into ``out`` (created if needed) atomically; returns its path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return write_json_atomic(out / "report.json", document)
