"""The comparison, stage by stage: load -> split -> segment -> locate hallux ->
mirror and register -> measure -> report. The Python API pipelines call; the
``bonecover compare`` command is a thin layer over :func:`compare`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.spatial import cKDTree

from bonecover import __version__
from bonecover.coverage import CoverageOptions, HalluxCoverage, measure_coverage
from bonecover.errors import AnalysisError, AnalysisIncomplete, InputError
from bonecover.feet import FootCrop, split_feet
from bonecover.hallux import HalluxBones, JointProfile, choose_joint_pair, hallux_bones, joint_profile, single_joints
from bonecover.metrics import comparison_metrics, thickness_deficit
from bonecover.register import Registration, apply, register_feet
from bonecover.segment import Tissues, segment_foot

if TYPE_CHECKING:
    from bonecover.io.dicom_discovery import Inventory

log = logging.getLogger(__name__)

__all__ = ["CompareOptions", "Report", "compare"]

REPORT_SCHEMA = "bonecover.report/1"


@dataclass(frozen=True)
class CompareOptions:
    """Options of a comparison; mirrors ``bonecover compare``.

    Parameters
    ----------
    affected_side : ``left``/``right``; required when one input shows both feet.
    min_cover_mm : thickness below which bone counts as exposed, mm.
    shell_mm : shell around the hallux bone surface for the soft-tissue volume, mm.
    series_uid : which series to analyse when an input holds several.
    hallux_point_mm : (X, Y, Z) LPS point inside the affected distal phalanx (override), mm.
    healthy_hallux_point_mm : the same for the healthy foot, mm.
    allow_gaps : accept missing slices (interpolated) instead of refusing them.
    """

    affected_side: str | None = None
    min_cover_mm: float = 1.0
    shell_mm: float = 5.0
    series_uid: str | None = None
    hallux_point_mm: tuple[float, float, float] | None = None
    healthy_hallux_point_mm: tuple[float, float, float] | None = None
    allow_gaps: bool = False

    def __post_init__(self) -> None:
        check_measure_options(self.affected_side, self.min_cover_mm, self.shell_mm)


def check_measure_options(affected_side: str | None, min_cover_mm: float, shell_mm: float) -> None:
    """Refuse (InputError) options no comparison can use; shared by the CT and radiograph options."""
    if affected_side not in (None, "left", "right"):
        raise InputError(f"--affected-side must be left or right; got {affected_side!r}")
    if not (0.0 < min_cover_mm < 20.0):
        raise InputError(f"--min-cover-mm must be between 0 and 20 mm; got {min_cover_mm}")
    if not (0.0 < shell_mm <= 20.0):
        raise InputError(f"--shell-mm must be between 0 and 20 mm; got {shell_mm}")


@dataclass(frozen=True, eq=False)
class Report:
    """The result of a comparison: the SPEC report document plus the stage outputs.

    ``document`` is what ``report.json`` holds (schema ``bonecover.report/1``).
    """

    document: dict[str, Any]
    affected: HalluxCoverage
    healthy: HalluxCoverage
    registration: Registration
    extras: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def qa(self) -> str:
        return str(self.document["registration"]["qa"])

    def to_json(self) -> str:
        return json.dumps(self.document, indent=2, allow_nan=False) + "\n"


class StageTimer:
    """Wall time per pipeline stage (s), summed when a stage runs more than once."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def run(self, stage: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - t0


def _pick(crops: tuple[FootCrop, ...], side: str | None, what: str, source: str) -> FootCrop:
    if len(crops) == 1:
        if side is not None and crops[0].side != side:
            raise InputError(f"{source} shows the {crops[0].side} foot but the {what} foot must be the {side} one; "
                             "check --affected-side and the order of the inputs")
        return crops[0]
    if side is None:
        raise InputError(f"{source} shows both feet; say which is affected with --affected-side left|right")
    return next(c for c in crops if c.side == side)


def _other(side: str) -> str:
    return "left" if side == "right" else "right"


def compare(affected: Path | str, healthy: Path | str | None = None,
            options: CompareOptions = CompareOptions(),
            progress: Callable[[str], None] | None = None, inventory: Inventory | None = None) -> Report:
    """Compare hallux coverage of the affected foot with the mirrored healthy foot (CT).

    Parameters
    ----------
    affected : DICOM file or folder, or a NIfTI/NRRD/MHA volume, showing the affected
        foot (or both feet).
    healthy : the same for the healthy foot, when it is a separate series.
    options : see :class:`CompareOptions`.
    progress : called with the name of each stage as it starts (for a progress display).
    inventory : the affected input's DICOM inventory when the caller has scanned it already.

    Raises
    ------
    InputError : the input cannot be analysed as given (exit code 2).
    AnalysisError : a stage could not produce a trustworthy result (exit code 3).
    """
    from bonecover.io import load_ct

    say = progress or (lambda stage: None)
    timer = StageTimer()
    warnings: list[str] = []
    say("load")
    aff_loaded = timer.run("load", load_ct, Path(affected), series_uid=options.series_uid,
                           allow_gaps=options.allow_gaps, inventory=inventory)
    warnings += list(aff_loaded.warnings)
    h_loaded = None
    if healthy is not None:
        h_loaded = timer.run("load", load_ct, Path(healthy), allow_gaps=options.allow_gaps)
        warnings += list(h_loaded.warnings)
        if _identity_differs(aff_loaded.info, h_loaded.info):
            warnings.append("the two inputs carry different patient identifiers; check they belong to one patient")

    say("split")
    aff_crops = timer.run("split", split_feet, aff_loaded.volume, laterality=aff_loaded.info.laterality or None,
                          source=str(affected), both_feet=h_loaded is None)
    if h_loaded is None:
        if len(aff_crops) < 2:
            raise InputError(f"only one foot found in {affected}; give the healthy foot as a second input "
                             "or a scan showing both feet")
        side = options.affected_side
        aff_crop = _pick(aff_crops, side, "affected", str(affected))
        h_crop = _pick(aff_crops, _other(aff_crop.side), "healthy", str(affected))
    else:
        h_crops = timer.run("split", split_feet, h_loaded.volume, laterality=h_loaded.info.laterality or None,
                            source=str(healthy))
        aff_crop = _pick(aff_crops, options.affected_side, "affected", str(affected))
        h_crop = _pick(h_crops, _other(aff_crop.side), "healthy", str(healthy))
    if aff_crop.side == h_crop.side:
        raise InputError(f"both inputs show the {aff_crop.side} foot; the healthy foot must be the other one")
    warnings += [f"{crop.side} foot: {note}" for crop in (aff_crop, h_crop) for note in crop.notes]

    say("segment")
    aff_t: Tissues = timer.run("segment", segment_foot, aff_crop)
    h_t: Tissues = timer.run("segment", segment_foot, h_crop)
    # no file paths: folder names often carry patient names
    inputs = {
        "affected": {**aff_loaded.info.to_dict(), "foot_side_from": aff_crop.how},
        "healthy": {**(h_loaded or aff_loaded).info.to_dict(), "foot_side_from": h_crop.how},
    }
    found: dict[str, Any] = {}
    stage = "locate_hallux"
    try:
        say("locate hallux")
        aff_h, h_h = timer.run("locate_hallux", _locate_both, aff_t, h_t, options, found)
        stage = "register"
        say("register")
        reg: Registration = timer.run("register", register_feet, aff_t, aff_h, h_t, h_h)
        if reg.qa != "pass":
            warnings.append(f"registration residual {reg.residual_mm:.2f} mm on the hallux ({reg.qa}); "
                            "check the registration figure before trusting the comparison")
        stage = "measure"
        say("measure")
        cov_opts = CoverageOptions(options.min_cover_mm, options.shell_mm)
        aff_cov: HalluxCoverage = timer.run("measure", measure_coverage, aff_t, aff_h.mask, aff_h.frame, cov_opts)
        h_cov: HalluxCoverage = timer.run("measure", measure_coverage, h_t, h_h.mask, h_h.frame, cov_opts)
    except AnalysisError as exc:
        partial = {
            "schema": REPORT_SCHEMA, "bonecover_version": __version__, "modality": "CT",
            "status": "failed", "failed_stage": stage, "reason": str(exc),
            "affected_side": aff_crop.side, "min_cover_mm": options.min_cover_mm, "shell_mm": options.shell_mm,
            "inputs": inputs,
            **found,
            "figures": [], "warnings": warnings,
            "timings_s": {k: round(v, 3) for k, v in timer.timings.items()},
            "options": {k: v for k, v in asdict(options).items()},
        }
        raise AnalysisIncomplete(str(exc), partial) from exc
    for role, bones in (("affected", aff_h), ("healthy", h_h)):
        if _touches_crop_edge(np.asarray(bones.mask.array, bool)):
            warnings.append(f"the {role} hallux bone reaches the edge of the scanned field: its surface there is "
                            "missing, so its bone area and volume read wrong; scan (or export) the whole toe")
    # corresponding points: the healthy surface carried onto the affected one
    moved = apply(reg.hallux_transform, h_cov.surface.points_mm)
    _, nearest = cKDTree(moved).query(aff_cov.surface.points_mm, workers=-1)
    deficit = thickness_deficit(aff_cov.surface.areas_mm2, aff_cov.thickness_mm, h_cov.thickness_mm[nearest])

    document = {
        "schema": REPORT_SCHEMA,
        "bonecover_version": __version__,
        "modality": "CT",
        "status": "done",
        "affected_side": aff_crop.side,
        "min_cover_mm": options.min_cover_mm,
        "shell_mm": options.shell_mm,
        "inputs": inputs,
        "affected": _side_document(aff_cov, aff_h),
        "healthy": _side_document(h_cov, h_h),
        "comparison": comparison_metrics(aff_cov.metrics, h_cov.metrics, deficit),
        "registration": {
            "hallux_transform": reg.hallux_transform.tolist(),
            "foot_transform": reg.foot_transform.tolist(),
            "qa": reg.qa,
            "residual_mm": reg.residual_mm,
            "foot_residual_mm": reg.foot_residual_mm,
            "qa_thresholds_mm": {"pass_below": 0.6, "fail_above": 1.2},
            "method": "mirror x -> -x in LPS; rigid trimmed ICP on bone surfaces: whole foot from anatomical "
                      "axes, then hallux (proximal phalanx weighted, distal tuft excluded)",
        },
        "figures": [],
        "warnings": warnings,
        "timings_s": {k: round(v, 3) for k, v in timer.timings.items()},
        "options": {k: v for k, v in asdict(options).items()},
    }
    return Report(document, aff_cov, h_cov, reg, {"affected_hallux": aff_h, "healthy_hallux": h_h,
                                                 "affected_tissues": aff_t, "healthy_tissues": h_t,
                                                 # identifiers (hidden repr): only for --include-phi output
                                                 "patient": aff_loaded.info.patient})


def _locate_both(aff_t: Tissues, h_t: Tissues, options: CompareOptions,
                 found: dict[str, Any]) -> tuple[HalluxBones, HalluxBones]:
    """Both halluces, their joints chosen together; ``found`` gets what was found for a
    partial report when one foot fails."""
    profiles: dict[str, JointProfile] = {}
    failure: AnalysisError | None = None
    for role, tissues, point in (("affected", aff_t, options.hallux_point_mm),
                                 ("healthy", h_t, options.healthy_hallux_point_mm)):
        try:
            profiles[role] = joint_profile(tissues, hallux_point_mm=point, role=role)
        except AnalysisError as exc:
            failure = failure or exc
    if failure is not None:
        for role, profile in profiles.items():  # what the other foot showed on its own
            tissues = aff_t if role == "affected" else h_t
            try:
                found[role] = {"hallux": _hallux_document(hallux_bones(tissues, profile, *single_joints(profile)))}
            except AnalysisError:
                pass
        raise failure
    joints_a, joints_h = choose_joint_pair(profiles["affected"], profiles["healthy"])
    aff_h = hallux_bones(aff_t, profiles["affected"], *joints_a)
    found["affected"] = {"hallux": _hallux_document(aff_h)}
    h_h = hallux_bones(h_t, profiles["healthy"], *joints_h)
    found["healthy"] = {"hallux": _hallux_document(h_h)}
    return aff_h, h_h


def _touches_crop_edge(mask: np.ndarray) -> bool:
    """Whether ``mask`` reaches a face of its array (a foot's crop keeps a margin inside the
    scan, so only the scan's own edge can cut it there)."""
    return any(np.any(np.take(mask, index, axis=axis)) for axis in range(3) for index in (0, -1))


def _hallux_document(bones: HalluxBones) -> dict[str, Any]:
    ip_mm, mtp_mm = bones.joints_from_tip_mm
    return {"found_by": bones.method, "frame": bones.frame.to_json(),
            "joints_from_tip_mm": {"interphalangeal": None if ip_mm is None else round(ip_mm, 1),
                                   "metatarsophalangeal": round(mtp_mm, 1)}}


def _side_document(cov: HalluxCoverage, bones: HalluxBones) -> dict[str, Any]:
    doc = dict(cov.metrics)
    doc["hallux"] = _hallux_document(bones)
    return doc


def _identity_differs(a: Any, b: Any) -> bool:
    pa, pb = getattr(a, "patient", None), getattr(b, "patient", None)
    ida, idb = getattr(pa, "patient_id", ""), getattr(pb, "patient_id", "")
    return bool(ida and idb and ida != idb)
