"""Comparison figures of a CT ``Report`` (issue 5): what a radiologist looks at first.

1. ``registration.png``: both feet's bones overlaid after mirroring and registration,
   hallux bones highlighted (is the registration right, is it the right toe?);
2. ``hallux_slices.png``: matched slices through the hallux, affected beside healthy;
3. ``thickness_maps.png``: the bone surface coloured by soft-tissue thickness and deficit;
4. ``distribution.png``: thickness distributions with the exposure line, regional table.

Drawing is pure (matplotlib ``Figure`` objects, Agg, no pyplot state) and returns PNG
bytes; :func:`render_figures` also writes them, through :mod:`bonecover.io.report_write`.
Patient identifiers never appear unless ``include_phi`` is set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from bonecover.figures._common import DPI, png_bytes, style

log = logging.getLogger(__name__)

__all__ = ["DPI", "FIGURES", "FigurePNG", "draw_figures", "patient_fields", "render_figures"]

#: Sub-folder of the output folder that holds the figures.
FIGURES_DIR = "figures"


@dataclass(frozen=True)
class FigurePNG:
    """One drawn figure: file name, caption, PNG bytes and how long drawing it took."""

    name: str
    caption: str
    png: bytes
    seconds: float = 0.0

    @property
    def path(self) -> str:
        """Path relative to the output folder, as ``report.json["figures"]`` lists it."""
        return f"{FIGURES_DIR}/{self.name}"


def _registration(report: Any, suffix: str) -> Figure:
    from bonecover.figures.registration import draw_registration
    return draw_registration(report, title_suffix=suffix)


def _slices(report: Any, suffix: str) -> Figure:
    from bonecover.figures.slices import draw_slices
    return draw_slices(report, title_suffix=suffix)


def _thickness(report: Any, suffix: str) -> Figure:
    from bonecover.figures.thickness_maps import draw_thickness_maps
    return draw_thickness_maps(report, title_suffix=suffix)


def _distribution(report: Any, suffix: str) -> Figure:
    from bonecover.figures.distribution import draw_distribution
    return draw_distribution(report, title_suffix=suffix)


#: (file name, caption, drawing function) of each figure, in report order.
FIGURES: tuple[tuple[str, str, Callable[[Any, str], Figure]], ...] = (
    ("registration.png",
     "Registration check. Bone maximum-intensity projections of the affected foot (axial, coronal, sagittal; "
     "patient right on the image left) with the mirrored healthy foot's bones outlined in blue after "
     "registration, and the located hallux bones in orange. Top: whole foot (foot transform; the dashed blue "
     "healthy hallux must lie on the orange one, otherwise a hallux was found on the wrong toe). Bottom: the "
     "hallux (hallux transform, used for the comparison).", _registration),
    ("hallux_slices.png",
     "Hallux slices through the thinnest cover (the exposed bone when there is any): sagittal, axial "
     "(dorsoplantar) and coronal planes of the affected hallux, and the same planes through the mirrored, "
     "registered healthy hallux; same window. Yellow dots: bone surface as measured; magenta: exposed bone; "
     "green: skin. Scale bars 10 mm.", _slices),
    ("thickness_maps.png",
     "Soft-tissue thickness over the hallux bone surface seen from dorsal, plantar and medial (tilted "
     "towards the tip), affected and mirrored healthy on one colour scale (mm); exposed bone striped magenta. "
     "Right: thickness deficit (healthy - affected) on the affected surface.", _thickness),
    ("distribution.png",
     "Distribution of soft-tissue cover over the bone surface (area-weighted) for both sides, with the "
     "exposure threshold, and cover by region.", _distribution),
)


def patient_fields(report: Any) -> dict[str, str]:
    """The report's patient identifiers (name, patient_id, birth_date, sex), non-empty ones only.

    For ``--include-phi`` output only; never log the result.
    """
    patient = report.extras.get("patient")
    keys = ("name", "patient_id", "birth_date", "sex")
    if isinstance(patient, Mapping):
        values = {k: patient.get(k, "") for k in keys}
    else:
        values = {k: getattr(patient, k, "") for k in keys}
    return {k: str(v) for k, v in values.items() if v}


def _phi_suffix(report: Any, include_phi: bool) -> str:
    if not include_phi:
        return ""
    patient = patient_fields(report)
    parts = [patient[k] for k in ("name", "patient_id", "birth_date") if k in patient]
    return ("\n" + " | ".join(parts)) if parts else ""


def draw_figures(report: Any, *, include_phi: bool = False) -> list[FigurePNG]:
    """Draw every figure of a CT comparison ``Report`` (no files written).

    Parameters
    ----------
    report : :class:`bonecover.pipeline.Report` with its stage outputs in ``extras``.
    include_phi : put patient identifiers (from ``report.extras["patient"]``) in titles.

    Returns
    -------
    One :class:`FigurePNG` per figure, PNG at :data:`DPI` dots per inch.
    """
    suffix = _phi_suffix(report, include_phi)
    out = []
    with style():
        for name, caption, draw in FIGURES:
            t0 = time.perf_counter()
            png = png_bytes(draw(report, suffix))
            seconds = time.perf_counter() - t0
            log.debug("figure %s drawn in %.2f s (%d kB)", name, seconds, len(png) // 1024)
            out.append(FigurePNG(name, caption, png, seconds))
    return out


def render_figures(report: Any, out_dir: Path | str, *, include_phi: bool = False) -> list[str]:
    """Draw every figure and write them into ``out_dir/figures/`` (atomically; existing
    files are never overwritten). Returns the paths written, relative to ``out_dir``."""
    from bonecover.io.report_write import write_figures

    return write_figures([(f.path, f.png) for f in draw_figures(report, include_phi=include_phi)],
                         Path(out_dir))
