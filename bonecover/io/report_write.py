"""Write a comparison's outputs into its output folder, atomically."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bonecover.errors import InputError
from bonecover.io.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

__all__ = ["check_output_dir", "write_figures", "write_outputs", "write_report_html", "write_report_json"]


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


def write_figures(figures: list[tuple[str, bytes]], out: Path) -> list[str]:
    """Write figure files (path relative to ``out``, PNG bytes) atomically, never
    replacing an existing file; returns the relative paths written, in order.

    Raises ``InputError`` when a figure file already exists.
    """
    out = Path(out)
    written = []
    for rel, data in figures:
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_bytes_atomic(path, data, overwrite=False)
        except FileExistsError as exc:
            raise InputError(f"{exc}; write the figures into a new folder") from None
        written.append(rel)
    return written


def write_report_html(text: str, out: Path) -> Path:
    """Write ``report.html`` into ``out`` (created if needed) atomically; returns its path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(out / "report.html", text)


def write_outputs(document: dict[str, Any], out: Path, *,
                  draw: Callable[[], Sequence[Any]] | None = None,
                  patient: dict[str, str] | None = None) -> tuple[dict[str, Any], str | None]:
    """Write a comparison's outputs: ``figures/``, ``report.json``, ``report.html``.

    Parameters
    ----------
    document : the report document; not modified (a copy gets the figure list).
    out : output folder (created if needed).
    draw : returns the figures to write (objects with ``path``, ``caption``, ``png``);
        None writes report.json only (``--no-figures``).
    patient : identifiers to show in report.html (``--include-phi`` only).

    Returns
    -------
    The document as written, and a one-line error when drawing the figures or the HTML
    failed (a bug): report.json is written in any case, so the numbers are never lost.
    """
    from bonecover.report_html import HtmlFigure, render_report_html

    doc = {**document, "figures": [], "warnings": list(document.get("warnings", []))}
    figures: Sequence[Any] = ()
    error = None
    if draw is not None:
        try:
            figures = draw()
            doc["figures"] = write_figures([(f.path, f.png) for f in figures], out)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - a drawing bug must not lose the numbers
            log.debug("figure drawing failed", exc_info=True)
            error = f"figures could not be drawn ({type(exc).__name__}: {exc})"
            doc["warnings"].append(error + "; this is a bug, please report it")
            figures = ()
    write_report_json(doc, out)
    if draw is not None:
        try:
            html = render_report_html(doc, [HtmlFigure(f.caption, f.png, f.path) for f in figures], patient=patient)
            write_report_html(html, out)
        except Exception as exc:  # noqa: BLE001
            log.debug("report.html failed", exc_info=True)
            error = error or f"report.html could not be written ({type(exc).__name__}: {exc})"
    return doc, error
