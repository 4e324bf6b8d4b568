"""The comparison on dorsoplantar radiographs: load -> segment -> feet -> hallux ->
mirror and register -> measure -> report (``compare_dx``).

Lengths are in mm in the image plane at the patient: the detector spacing
(ImagerPixelSpacing) divided by EstimatedRadiographicMagnificationFactor when the
header gives one (the report says which), else the detector spacing itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from bonecover import __version__
from bonecover.errors import InputError
from bonecover.io.dicom_discovery import Inventory
from bonecover.pipeline import StageTimer, check_measure_options
from bonecover.radiograph.hallux import Foot2D, Hallux2D, feet_of, locate_hallux_2d
from bonecover.radiograph.image import Image2D
from bonecover.radiograph.margin import HalluxMargin, measure_margin
from bonecover.radiograph.register import QA_FAIL_MM, QA_PASS_MM, Registration2D, apply_2d, register_feet_2d
from bonecover.radiograph.segment import Segmentation, segment_radiograph
from bonecover.radiograph.view import check_dorsoplantar, check_view_position
from bonecover.surface import weighted_stats

log = logging.getLogger(__name__)

__all__ = ["DXCompareOptions", "DXReport", "compare_dx", "is_radiograph_input"]

REPORT_SCHEMA = "bonecover.report/1"
@dataclass(frozen=True)
class DXCompareOptions:
    """Options of a radiograph comparison; mirrors ``bonecover compare`` on DX/CR input.

    Parameters
    ----------
    affected_side : ``left``/``right``; required when one image shows both feet.
    min_cover_mm : margin below which bone outline counts as exposed, mm.
    shell_mm : band around the hallux bone outline for the soft-tissue area, mm.
    series_uid : which series to use when an input holds several.
    hallux_point_mm : (X, Y) inside the affected distal phalanx: detector mm from the
        centre of the top-left pixel, X along a row (to the right), Y down a column
        (column x ImagerPixelSpacing, row x ImagerPixelSpacing: what a viewer's ruler reads).
    pixel_spacing_mm : spacing to use when the header has none (then lengths are
        detector lengths at that spacing, and the report says so).
    """

    affected_side: str | None = None
    min_cover_mm: float = 1.0
    shell_mm: float = 5.0
    series_uid: str | None = None
    hallux_point_mm: tuple[float, float] | None = None
    pixel_spacing_mm: float | None = None

    def __post_init__(self) -> None:
        check_measure_options(self.affected_side, self.min_cover_mm, self.shell_mm)
        if self.pixel_spacing_mm is not None and not (0.01 <= self.pixel_spacing_mm <= 2.0):
            raise InputError(f"--pixel-spacing must be 0.01-2 mm; got {self.pixel_spacing_mm}")


@dataclass(frozen=True, eq=False)
class DXReport:
    """The result of a radiograph comparison: the SPEC document plus the stage outputs."""

    document: dict[str, Any]
    affected: HalluxMargin
    healthy: HalluxMargin
    registration: Registration2D
    extras: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def qa(self) -> str:
        return str(self.document["registration"]["qa"])

    def to_json(self) -> str:
        return json.dumps(self.document, indent=2, allow_nan=False) + "\n"


def is_radiograph_input(path: Path | str, series_uid: str | None = None, inventory: Inventory | None = None) -> bool:
    """Whether ``bonecover compare`` would analyse ``path`` as a radiograph (DX/CR);
    ``inventory`` is ``path``'s :func:`bonecover.io.scan_input` when the caller has it."""
    from bonecover.io import scan_input

    inv = inventory if inventory is not None else scan_input(path)
    if inv is None:
        return False
    try:
        return inv.choose(series_uid).modality == "DX"
    except InputError:
        return False


@dataclass(frozen=True, eq=False)
class _Side:
    image: Image2D
    seg: Segmentation
    foot: Foot2D


def _plane_image(xr: Any) -> tuple[Image2D, str]:
    spacing = xr.patient_spacing_mm
    if xr.spacing_tag == "user":
        note = "lengths use the pixel spacing given with --pixel-spacing (the header has none)"
    elif xr.magnification and xr.spacing_tag == "ImagerPixelSpacing":
        note = (f"lengths are at the patient: detector spacing (ImagerPixelSpacing) divided by the "
                f"estimated radiographic magnification {xr.magnification:g}")
    else:
        note = f"lengths are detector lengths ({xr.spacing_tag}; no magnification factor in the header)"
    return Image2D(xr.image, spacing), note


def compare_dx(affected: Path | str, healthy: Path | str | None = None,
               options: DXCompareOptions = DXCompareOptions(),
               progress: Callable[[str], None] | None = None, inventory: Inventory | None = None) -> DXReport:
    """Compare hallux coverage on dorsoplantar radiographs (affected vs mirrored healthy foot).

    Parameters
    ----------
    affected : a radiograph (DICOM file or folder) of the affected foot, or of both feet.
    healthy : a radiograph of the healthy foot, when the feet are on separate images.
    options : see :class:`DXCompareOptions`.
    progress : called with each stage's name as it starts.

    Raises
    ------
    InputError : lateral view, no foot, one foot where two are needed, no pixel spacing
        (without ``pixel_spacing_mm``), ... (exit code 2).
    """
    from bonecover.io import load_radiograph

    say = progress or (lambda stage: None)
    timer = StageTimer()
    timed = timer.run
    warnings: list[str] = []

    say("load")
    a_xr = timed("load", load_radiograph, Path(affected), series_uid=options.series_uid,
                 pixel_spacing_mm=options.pixel_spacing_mm, inventory=inventory)
    check_view_position(a_xr.view_position, str(affected))
    warnings += list(a_xr.warnings)
    h_xr = None
    if healthy is not None:
        h_xr = timed("load", load_radiograph, Path(healthy), pixel_spacing_mm=options.pixel_spacing_mm)
        check_view_position(h_xr.view_position, str(healthy))
        warnings += list(h_xr.warnings)
    a_img, a_note = _plane_image(a_xr)
    say("segment")
    a_seg = timed("segment", segment_radiograph, a_img)
    a_feet = timed("split", feet_of, a_seg, laterality=a_xr.laterality,
                   affected_side=options.affected_side, source=str(affected))
    if h_xr is None:
        if len(a_feet) < 2:
            raise InputError(f"only one foot found in {affected}; give the healthy foot as a second radiograph "
                             "or an image showing both feet")
        if options.affected_side is None:
            raise InputError(f"{affected} shows both feet; say which is affected with --affected-side left|right")
        aff_side = _Side(a_img, a_seg, next(f for f in a_feet if f.side == options.affected_side))
        h_side = _Side(a_img, a_seg, next(f for f in a_feet if f.side != options.affected_side))
        h_note = a_note
    else:
        h_img, h_note = _plane_image(h_xr)
        h_seg = timed("segment", segment_radiograph, h_img)
        h_feet = timed("split", feet_of, h_seg, laterality=h_xr.laterality,
                       affected_side=None if options.affected_side is None else
                       ("left" if options.affected_side == "right" else "right"), source=str(healthy))
        a_pick = [f for f in a_feet if options.affected_side in (None, f.side)]
        if not a_pick:
            raise InputError(f"{affected} does not show the {options.affected_side} foot; check --affected-side "
                             "and the order of the inputs")
        aff_side = _Side(a_img, a_seg, a_pick[0])
        h_pick = [f for f in h_feet if f.side != aff_side.foot.side]
        if not h_pick:
            raise InputError(f"both inputs show the {aff_side.foot.side} foot; the healthy foot must be the other one")
        h_side = _Side(h_img, h_seg, h_pick[0])
    # headers without a view (or a wrong one): the image must show a DP foot
    check_dorsoplantar(aff_side.seg, aff_side.foot, str(affected))
    check_dorsoplantar(h_side.seg, h_side.foot, str(healthy or affected))
    say("locate hallux")
    point = None
    if options.hallux_point_mm is not None:
        det = a_xr.stored_to_display_mm(np.asarray(options.hallux_point_mm, float))
        point = det * np.array(a_img.spacing_mm[::-1]) / np.array(a_xr.pixel_spacing_mm[::-1])
    a_h: Hallux2D = timed("locate_hallux", locate_hallux_2d, aff_side.seg, aff_side.foot, hallux_point_mm=point,
                          source=str(affected))
    h_h: Hallux2D = timed("locate_hallux", locate_hallux_2d, h_side.seg, h_side.foot,
                          source=str(healthy or affected))
    say("register")
    reg: Registration2D = timed("register", register_feet_2d, aff_side.image, aff_side.seg.bone, aff_side.foot, a_h,
                                h_side.image, h_side.seg.bone, h_side.foot, h_h,
                                aff_keep=aff_side.seg.inner_field, h_keep=h_side.seg.inner_field)
    if reg.qa != "pass":
        warnings.append(f"registration residual {reg.residual_mm:.2f} mm on the hallux outline ({reg.qa}); "
                        "check the registration figure before trusting the comparison")
    say("measure")
    a_m: HalluxMargin = timed("measure", measure_margin, aff_side.seg, aff_side.foot, a_h,
                              min_cover_mm=options.min_cover_mm, shell_mm=options.shell_mm)
    h_m: HalluxMargin = timed("measure", measure_margin, h_side.seg, h_side.foot, h_h,
                              min_cover_mm=options.min_cover_mm, shell_mm=options.shell_mm)
    band = a_m.metrics["exposed_contour_band_mm"]
    exposed = a_m.metrics["exposed_contour_mm"]
    if band["high"] - band["low"] > max(3.0, 0.2 * exposed):
        warnings.append(f"affected exposed outline {exposed:.1f} mm is uncertain in a projection: "
                        f"{band['low']:.1f}-{band['high']:.1f} mm if the margins were "
                        f"{band['margin_uncertainty_mm']:g} mm longer or shorter (bone and skin edges merge at "
                        "a wound face); a CT settles it")
    moved = apply_2d(reg.hallux_transform, h_m.outline.midpoints_mm)
    _, nearest = cKDTree(moved).query(a_m.outline.midpoints_mm, workers=-1)
    diff = h_m.margin_mm[nearest] - a_m.margin_mm
    dstats = weighted_stats(diff, a_m.outline.lengths_mm)
    h_cov = h_m.metrics["covered_fraction"]
    document = {
        "schema": REPORT_SCHEMA,
        "bonecover_version": __version__,
        "modality": "DX",
        "affected_side": aff_side.foot.side,
        "min_cover_mm": options.min_cover_mm,
        "shell_mm": options.shell_mm,
        "units": {"affected": a_note, "healthy": h_note},
        "inputs": {
            "affected": {**a_xr.info.to_dict(), "view_position": a_xr.view_position, "laterality": a_xr.laterality,
                         "pixel_spacing_mm": list(a_xr.pixel_spacing_mm), "spacing_tag": a_xr.spacing_tag,
                         "magnification": a_xr.magnification, "foot_side_from": aff_side.foot.how},
            "healthy": {**(h_xr or a_xr).info.to_dict(), "view_position": (h_xr or a_xr).view_position,
                        "laterality": (h_xr or a_xr).laterality,
                        "pixel_spacing_mm": list((h_xr or a_xr).pixel_spacing_mm),
                        "spacing_tag": (h_xr or a_xr).spacing_tag, "magnification": (h_xr or a_xr).magnification,
                        "foot_side_from": h_side.foot.how},
        },
        "affected": {**a_m.metrics, "hallux": {"found_by": a_h.method}},
        "healthy": {**h_m.metrics, "hallux": {"found_by": h_h.method}},
        "comparison": {
            "coverage_ratio": a_m.metrics["covered_fraction"] / h_cov if h_cov > 0 else None,
            "soft_tissue_deficit_mm2": h_m.metrics["soft_tissue_area_mm2"] - a_m.metrics["soft_tissue_area_mm2"],
            "margin_deficit_mm": {"mean": dstats["mean"], "median": dstats["median"]},
        },
        "registration": {
            "hallux_transform": reg.hallux_transform.tolist(),
            "foot_transform": reg.foot_transform.tolist(),
            "transform_convention": "3x3 homogeneous, healthy image-plane mm (x along a row, y down a column, "
                                    "from the centre of the top-left pixel) -> affected image-plane mm; "
                                    "includes the mirror (determinant < 0)",
            "scale": reg.scale,
            "qa": reg.qa,
            "residual_mm": reg.residual_mm,
            "foot_residual_mm": reg.foot_residual_mm,
            "qa_thresholds_mm": {"pass_below": QA_PASS_MM, "fail_above": QA_FAIL_MM},
            "method": "mirror x -> -x in the image plane; initial pose from the feet's axes; trimmed ICP on bone "
                      "outlines: whole foot as a similarity (scale 0.9-1.1), then hallux rigid (distal tuft excluded)",
        },
        "figures": [],
        "warnings": warnings,
        "timings_s": {k: round(v, 3) for k, v in timer.timings.items()},
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(options).items()},
    }
    extras = {"affected_side": aff_side, "healthy_side": h_side, "affected_hallux": a_h, "healthy_hallux": h_h,
              "patient": getattr(a_xr.info, "patient", None)}
    return DXReport(document, a_m, h_m, reg, extras)
