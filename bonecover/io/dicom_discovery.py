"""Finding what a folder of DICOM holds: a header-only scan, grouping and choice.

:func:`discover` walks a file or folder recursively, reads DICOM headers only
(never pixel data), quietly skips files that are not DICOM, groups images by study
and series (splitting a series that mixes orientations or image sizes), classifies
each group (CT volume, localizer, radiograph, secondary capture, structured report,
other), records the problems its headers already show (missing geometry, gaps,
duplicates, mixed pixel spacing, a single slice ...), and
:meth:`Inventory.choose` picks the series a comparison would analyse, with a reason.

Patient identifiers are kept apart (:class:`PatientIdentity`) and never logged.
"""

from __future__ import annotations

import logging
import os
import re
import time
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag

from bonecover.errors import InputError
from bonecover.io.dicom_pixels import MAX_SIDE, MAX_VOXELS, transfer_syntax
from bonecover.io.stack_geometry import analyse_stack

__all__ = [
    "scan_input",
    "SeriesKind",
    "SliceHeader",
    "PatientIdentity",
    "SeriesEntry",
    "SkippedFile",
    "Choice",
    "Inventory",
    "discover",
    "RESEARCH_SUFFIXES",
]

logger = logging.getLogger(__name__)

#: File name endings read as research volumes (SimpleITK), not DICOM.
RESEARCH_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha", ".mhd")


class SeriesKind:
    """Classification of a series (plain string constants)."""

    CT_VOLUME = "ct_volume"
    LOCALIZER = "localizer"
    RADIOGRAPH = "radiograph"
    SECONDARY_CAPTURE = "secondary_capture"
    STRUCTURED_REPORT = "structured_report"
    OTHER = "other"


_CT_SOP = {
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT Image Storage
}
_ENHANCED_SOP = {"1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.2.2"}
_RADIOGRAPH_SOP = {
    "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography
    "1.2.840.10008.5.1.4.1.1.1.1",  # DX for presentation
    "1.2.840.10008.5.1.4.1.1.1.1.1",  # DX for processing
}
_DIRECTORY_SOP = "1.2.840.10008.1.3.10"
_SC_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
_SR_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
#: Words (or word starts) of BodyPartExamined / SeriesDescription that name the foot:
#: English, German (Fuss, Fuesse, Vorfuss, Zehe), French (pied, orteil), Spanish (pie).
_FEET_PREFIXES = (
    "FOOT",
    "FEET",
    "FOREFOOT",
    "TOE",
    "HALLUX",
    "ANKLE",
    "FUSS",
    "FUESS",
    "FUß",
    "VORFUSS",
    "ZEHE",
    "PIED",
    "ORTEIL",
    "METATARS",
)
_FEET_WORDS = {"PIE", "PIES", "MTP"}

_HEADER_TAGS = [
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "FrameOfReferenceUID",
    "Modality",
    "SeriesDescription",
    "StudyDescription",
    "SeriesDate",
    "StudyDate",
    "AcquisitionDate",
    "ContentDate",
    "SeriesNumber",
    "BodyPartExamined",
    "Laterality",
    "ImageLaterality",
    "PatientPosition",
    "ViewPosition",
    "Manufacturer",
    "ManufacturerModelName",
    "ImageType",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "NominalScannedPixelSpacing",
    "EstimatedRadiographicMagnificationFactor",
    "SliceThickness",
    "SpacingBetweenSlices",
    "GantryDetectorTilt",
    "RescaleSlope",
    "RescaleIntercept",
    "InstanceNumber",
    "AcquisitionNumber",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence",
    "ConvolutionKernel",
    "DirectoryRecordSequence",
]


#: Keyword -> tag, computed once (pydicom's keyword lookup is slow per call).
_TAG: dict[str, int] = {kw: tag for kw in _HEADER_TAGS if (tag := tag_for_keyword(kw)) is not None}
_HEADER_TAG_INTS = [Tag(t) for t in _TAG.values()]


def _get(ds: Dataset, keyword: str) -> Any:
    """Value of a header element by keyword, None when absent (fast tag lookup)."""
    tag = _TAG.get(keyword)
    if tag is None:
        return ds.get(keyword, None)
    elem = ds.get(tag, None)
    return None if elem is None else elem.value


# --------------------------------------------------------------------------- records
@dataclass(frozen=True)
class SliceHeader:
    """Header facts of one 2-D image: a single-frame file, or one frame of a multi-frame file.

    Attributes
    ----------
    path : the file.
    frame : frame index within the file (0 for single-frame files).
    n_frames : NumberOfFrames of the file (1 for single-frame files).
    sop_instance_uid : SOPInstanceUID of the file.
    rows, cols : declared image size.
    position_mm : (3,) ImagePositionPatient (LPS, mm) or None when absent.
    orientation : (6,) ImageOrientationPatient or None when absent.
    pixel_spacing_mm : (2,) PixelSpacing (between rows, between columns), mm, or None.
    slope, intercept : RescaleSlope / RescaleIntercept (1, 0 when absent).
    instance_number, acquisition_number : as in the header (None when absent).
    slice_thickness_mm : SliceThickness, mm, or None.
    pixel_format : (transfer syntax UID, BitsAllocated, BitsStored,
        PixelRepresentation, SamplesPerPixel) of the file, for the fast pixel reader.
    """

    path: Path
    frame: int
    n_frames: int
    sop_instance_uid: str
    rows: int
    cols: int
    position_mm: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    pixel_spacing_mm: tuple[float, float] | None
    slope: float
    intercept: float
    instance_number: int | None
    acquisition_number: int | None
    slice_thickness_mm: float | None
    pixel_format: tuple[str, int, int, int, int] = ("", 0, 0, 0, 0)


@dataclass(frozen=True)
class PatientIdentity:
    """Patient identifiers of a series. Kept apart so they are never logged by default."""

    name: str = ""
    patient_id: str = ""
    birth_date: str = ""
    sex: str = ""

    def __repr__(self) -> str:  # never leak identifiers through a repr in a log line
        return "PatientIdentity(<hidden>)"


@dataclass(frozen=True)
class SeriesEntry:
    """One group of images of a study: a series, or one part of a series that had to be split.

    Attributes
    ----------
    key : unique id: the SeriesInstanceUID, with ``#2``, ``#3`` ... appended for
        further parts of a series split by orientation, size or acquisition.
    series_uid, study_uid, frame_of_reference_uid : DICOM UIDs ('' when absent).
    kind : a :class:`SeriesKind` value.
    modality, sop_class_uid, description, date, body_part, laterality,
        patient_position, view_position, manufacturer, image_type : header facts.
    rows, cols : image size; n_slices : number of 2-D images (frames) in the group.
    pixel_spacing_mm : (between rows, between columns) in mm, or None.
    slice_step_mm : median distance between slices along the normal, mm (None if
        not a stack). slice_thickness_mm : SliceThickness, mm.
    gantry_tilt_deg : tilt found from the slice positions, degrees.
    files : the files of the group, sorted by path.
    slices : per-image headers (unsorted; the loader orders them along the normal).
    problems : what the headers already show to be wrong or unusual.
    patient : identifiers, never logged.
    magnification : EstimatedRadiographicMagnificationFactor (radiographs), or None.
    spacing_tag : the tag the pixel spacing came from.
    n_frames_declared : frames declared by the files (NumberOfFrames summed).
    """

    key: str
    series_uid: str
    study_uid: str
    frame_of_reference_uid: str
    kind: str
    modality: str
    sop_class_uid: str
    description: str
    date: str
    body_part: str
    laterality: str
    patient_position: str
    view_position: str
    manufacturer: str
    image_type: tuple[str, ...]
    rows: int
    cols: int
    n_slices: int
    pixel_spacing_mm: tuple[float, float] | None
    slice_step_mm: float | None
    slice_thickness_mm: float | None
    gantry_tilt_deg: float
    files: tuple[Path, ...]
    slices: tuple[SliceHeader, ...] = field(repr=False)
    problems: tuple[str, ...]
    patient: PatientIdentity = field(repr=False, default_factory=PatientIdentity)
    magnification: float | None = None
    spacing_tag: str = ""
    n_frames_declared: int = 0

    @property
    def covers_feet(self) -> bool:
        """True when body part or description names the foot (several languages)."""
        text = f"{self.body_part} {self.description}".upper()
        words = [w for w in re.split(r"[^A-ZÀ-ÿß]+", text) if w]
        return any(w in _FEET_WORDS or w.startswith(_FEET_PREFIXES) for w in words)

    def summary(self) -> str:
        """Short human description without patient identifiers."""
        desc = f' "{self.description}"' if self.description else ""
        size = f"{self.rows}x{self.cols}"
        if self.kind == SeriesKind.CT_VOLUME:
            step = f", {self.slice_step_mm:.2f} mm steps" if self.slice_step_mm else ""
            return f"{self.key}{desc}: CT volume, {self.n_slices} slices of {size}{step}"
        return f"{self.key}{desc}: {self.kind.replace('_', ' ')} ({self.modality}), {size}"

    def to_dict(self, *, include_patient: bool = False) -> dict[str, object]:
        """JSON-ready facts (patient identifiers only when asked)."""
        out: dict[str, object] = {
            "key": self.key,
            "series_uid": self.series_uid,
            "study_uid": self.study_uid,
            "frame_of_reference_uid": self.frame_of_reference_uid,
            "kind": self.kind,
            "modality": self.modality,
            "sop_class_uid": self.sop_class_uid,
            "description": self.description,
            "date": self.date,
            "body_part": self.body_part,
            "laterality": self.laterality,
            "patient_position": self.patient_position,
            "view_position": self.view_position,
            "manufacturer": self.manufacturer,
            "image_type": list(self.image_type),
            "rows": self.rows,
            "cols": self.cols,
            "n_slices": self.n_slices,
            "pixel_spacing_mm": list(self.pixel_spacing_mm) if self.pixel_spacing_mm else None,
            "slice_step_mm": self.slice_step_mm,
            "slice_thickness_mm": self.slice_thickness_mm,
            "gantry_tilt_deg": self.gantry_tilt_deg,
            "n_files": len(self.files),
            "problems": list(self.problems),
        }
        if include_patient:
            out["patient"] = {
                "name": self.patient.name,
                "id": self.patient.patient_id,
                "birth_date": self.patient.birth_date,
                "sex": self.patient.sex,
            }
        return out


@dataclass(frozen=True)
class SkippedFile:
    """A file that is not an image series member: DICOMDIR, unreadable, or not DICOM."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Choice:
    """The series picked for analysis and why.

    Attributes
    ----------
    series : the chosen group.
    modality : ``"CT"`` or ``"DX"`` (radiograph, DX or CR).
    reason : one human-readable sentence.
    """

    series: SeriesEntry
    modality: str
    reason: str


@dataclass(frozen=True)
class Inventory:
    """Everything :func:`discover` found under one path.

    Attributes
    ----------
    root : the path scanned.
    series : image groups, sorted by study date, study, series number, key.
    skipped : DICOMDIRs, unreadable files and the like (not ordinary non-DICOM files).
    n_files : files looked at; n_non_dicom : of those, not DICOM (skipped quietly).
    scan_seconds : wall time of the header scan.
    """

    root: Path
    series: tuple[SeriesEntry, ...]
    skipped: tuple[SkippedFile, ...]
    n_files: int
    n_non_dicom: int
    scan_seconds: float

    def get(self, key: str) -> SeriesEntry:
        """The group with this key (or the largest part of the series with this UID)."""
        exact = [s for s in self.series if s.key == key]
        if exact:
            return exact[0]
        parts = [s for s in self.series if s.series_uid == key]
        if parts:
            return max(parts, key=lambda s: s.n_slices)
        known = ", ".join(s.key for s in self.series[:5]) + (" ..." if len(self.series) > 5 else "")
        raise InputError(
            f"series {key} is not in {self.root}; it holds {len(self.series)} series ({known}); "
            "run `bonecover inspect` to list them"
        )

    def choose(self, series_uid: str | None = None, *, modality: str | None = None) -> Choice:
        """Pick the series to analyse.

        Parameters
        ----------
        series_uid : a series key or SeriesInstanceUID to use (``--series``); None
            to choose automatically.
        modality : ``"CT"`` or ``"DX"`` to restrict the choice; None prefers a CT
            volume and falls back to a radiograph.

        Returns
        -------
        Choice
            Automatic choice for CT, rule by rule: more than one slice; body part or
            description naming the foot; no gap or damaged header; the most slices;
            the thinnest slice step. The reason says which rule decided.

        Raises
        ------
        InputError
            Nothing analysable, or the requested series is not a CT volume or radiograph.
        """
        if series_uid is not None:
            entry = self.get(series_uid)
            if entry.kind == SeriesKind.CT_VOLUME and modality in (None, "CT"):
                return Choice(entry, "CT", f"series {entry.key} chosen with --series")
            if entry.kind == SeriesKind.RADIOGRAPH and modality in (None, "DX"):
                return Choice(entry, "DX", f"series {entry.key} chosen with --series")
            raise InputError(
                f"series {entry.key} is a {entry.kind.replace('_', ' ')} ({entry.modality}), "
                f"not a {'radiograph' if modality == 'DX' else 'CT volume'}; "
                "choose another with --series (see `bonecover inspect`)"
            )
        cts = [s for s in self.series if s.kind == SeriesKind.CT_VOLUME]
        xrs = [s for s in self.series if s.kind == SeriesKind.RADIOGRAPH]
        if cts and modality in (None, "CT"):
            return _choose_ct(cts)
        if xrs and modality in (None, "DX"):
            return _choose_radiograph(xrs)
        raise InputError(self._nothing_message(modality))

    def _nothing_message(self, modality: str | None) -> str:
        what = {"CT": "no CT volume series", "DX": "no radiograph (DX/CR)"}.get(
            modality or "", "no CT volume series and no radiograph (DX/CR)"
        )
        counts: dict[str, int] = defaultdict(int)
        for s in self.series:
            counts[f"{s.kind.replace('_', ' ')} ({s.modality or '?'})"] += 1
        found = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no image series"
        bad = [s for s in self.skipped if not s.reason.startswith("DICOMDIR")]
        if bad:
            first = f"{bad[0].path.name}: {bad[0].reason}"
            found += f" and {len(bad)} unreadable file(s) ({first})"
        return (
            f"{what} in {self.root}: found {found}; "
            "point bonecover at the foot CT or radiograph export"
        )


def _choose_ct(cts: list[SeriesEntry]) -> Choice:
    def rank(s: SeriesEntry) -> tuple[int, int, int, int, float, str]:
        clean = 0 if any(p.startswith(("gap", "missing", "absurd")) for p in s.problems) else 1
        step = s.slice_step_mm if s.slice_step_mm else float("inf")
        return (int(s.n_slices > 1), int(s.covers_feet), clean, s.n_slices, -step, s.key)

    ordered = sorted(cts, key=rank, reverse=True)
    best = ordered[0]
    if len(ordered) == 1:
        why = "the only CT volume series"
    else:
        second = ordered[1]
        rb, rs = rank(best), rank(second)
        if rb[0] != rs[0]:
            why = "the others are single slices"
        elif rb[1] != rs[1]:
            why = f"its body part/description names the foot ({best.body_part or best.description})"
        elif rb[2] != rs[2]:
            why = "the other CT series have gaps or damaged headers"
        elif rb[3] != rs[3]:
            why = f"most slices ({best.n_slices} vs {second.n_slices})"
        elif rb[4] != rs[4]:
            why = (
                f"thinnest reconstruction ({best.slice_step_mm:.2f} vs "
                f"{second.slice_step_mm:.2f} mm)"
            )
        else:
            why = "ties broken by series UID"
        why += f", out of {len(ordered)} CT volume series"
    return Choice(best, "CT", f"{best.summary()} -- {why}")


def _choose_radiograph(xrs: list[SeriesEntry]) -> Choice:
    def rank(s: SeriesEntry) -> tuple[int, int, int, str]:
        dp = int(s.view_position.upper() in ("AP", "PA", "DP", "PD"))
        return (int(s.covers_feet), dp, s.rows * s.cols, s.key)

    ordered = sorted(xrs, key=rank, reverse=True)
    best = ordered[0]
    why = (
        "the only radiograph"
        if len(ordered) == 1
        else (f"first of {len(ordered)} radiographs by foot body part, dorsoplantar view and size")
    )
    return Choice(best, "DX", f"{best.summary()} -- {why}")


# --------------------------------------------------------------------------- scanning
_ARCHIVES = {".zip", ".7z", ".rar", ".tar", ".gz", ".tgz", ".iso"}


def _is_directory_file(path: Path) -> bool:
    """True for a DICOMDIR (Media Storage Directory) file."""
    if path.name.upper() == "DICOMDIR":
        return True
    if _looks_like_dicom(path) is not True:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(str(path), stop_before_pixels=True, specific_tags=[0x00020002])
    except Exception:  # noqa: BLE001 - not a directory then
        return False
    return _str(getattr(ds, "file_meta", Dataset()), "MediaStorageSOPClassUID") == _DIRECTORY_SOP


def _iter_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _looks_like_dicom(path: Path) -> bool | None:
    """True: DICM preamble; None: maybe (raw DICOM without preamble); False: not DICOM."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    # Files without the preamble start with a group 0x0002 or 0x0008 element.
    if len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00") and head[3:4] == b"\x00":
        return None
    return False


def read_header(path: Path, *, force: bool = False) -> Dataset:
    """Read the header of one DICOM file, never its pixel data.

    Raises pydicom's errors or OSError; the caller decides what they mean.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(
            str(path), stop_before_pixels=True, force=force, specific_tags=_HEADER_TAG_INTS
        )


def _str(ds: Dataset, keyword: str) -> str:
    value = _get(ds, keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _float_seq(value: Any, n: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(out) != n or not all(np.isfinite(out)):
        return None
    return out


def _opt_float(value: object) -> float | None:
    if value is None or value == "":
        return None
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def _opt_int(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _fg(item: Dataset | None, seq: str, keyword: str) -> object:
    """A value from a functional group macro (``item.seq[0].keyword``)."""
    if item is None or seq not in item:
        return None
    sq = item[seq].value
    if not sq:
        return None
    return sq[0].get(keyword, None)


def _slice_headers(ds: Dataset, path: Path) -> list[SliceHeader]:
    rows = _opt_int(_get(ds, "Rows")) or 0
    cols = _opt_int(_get(ds, "Columns")) or 0
    n_frames = _opt_int(_get(ds, "NumberOfFrames")) or 1
    sop = _str(ds, "SOPInstanceUID")
    inst = _opt_int(_get(ds, "InstanceNumber"))
    acq = _opt_int(_get(ds, "AcquisitionNumber"))
    bits = _opt_int(_get(ds, "BitsAllocated")) or 0
    tsyntax = transfer_syntax(ds)
    pixel_format = (
        tsyntax,
        bits,
        _opt_int(_get(ds, "BitsStored")) or bits,
        _opt_int(_get(ds, "PixelRepresentation")) or 0,
        _opt_int(_get(ds, "SamplesPerPixel")) or 1,
    )
    base = {
        "path": path,
        "n_frames": n_frames,
        "sop_instance_uid": sop,
        "rows": rows,
        "cols": cols,
        "instance_number": inst,
        "pixel_format": pixel_format,
    }
    shared = (
        ds.SharedFunctionalGroupsSequence[0] if _get(ds, "SharedFunctionalGroupsSequence") else None
    )
    per_frame: Any = _get(ds, "PerFrameFunctionalGroupsSequence") or None
    if per_frame is not None or shared is not None:
        if n_frames > MAX_VOXELS // max(1, rows * cols) or rows > MAX_SIDE or cols > MAX_SIDE:
            per_frame = None  # absurd: reported by the size check, do not iterate
        out = []
        for f in range(n_frames if per_frame is not None else 0):
            item = per_frame[f] if f < len(per_frame) else None

            def pick(seq: str, kw: str, item: Dataset | None = item) -> object:
                value = _fg(item, seq, kw)
                return value if value is not None else _fg(shared, seq, kw)

            slope = _opt_float(pick("PixelValueTransformationSequence", "RescaleSlope"))
            icept = _opt_float(pick("PixelValueTransformationSequence", "RescaleIntercept"))
            out.append(
                SliceHeader(
                    frame=f,
                    position_mm=_float_seq(
                        pick("PlanePositionSequence", "ImagePositionPatient"), 3
                    ),  # type: ignore[arg-type]
                    orientation=_float_seq(
                        pick("PlaneOrientationSequence", "ImageOrientationPatient"), 6
                    ),
                    pixel_spacing_mm=_float_seq(pick("PixelMeasuresSequence", "PixelSpacing"), 2),  # type: ignore[arg-type]
                    slope=slope if slope is not None else 1.0,
                    intercept=icept if icept is not None else 0.0,
                    acquisition_number=acq,
                    slice_thickness_mm=_opt_float(pick("PixelMeasuresSequence", "SliceThickness")),
                    **base,  # type: ignore[arg-type]
                )
            )
        if out:
            return out
    slope = _opt_float(_get(ds, "RescaleSlope"))
    icept = _opt_float(_get(ds, "RescaleIntercept"))
    spacing = _float_seq(_get(ds, "PixelSpacing"), 2)
    return [
        SliceHeader(
            frame=f,
            position_mm=_float_seq(_get(ds, "ImagePositionPatient"), 3),  # type: ignore[arg-type]
            orientation=_float_seq(_get(ds, "ImageOrientationPatient"), 6),
            pixel_spacing_mm=spacing,  # type: ignore[arg-type]
            slope=slope if slope is not None else 1.0,
            intercept=icept if icept is not None else 0.0,
            acquisition_number=acq,
            slice_thickness_mm=_opt_float(_get(ds, "SliceThickness")),
            **base,  # type: ignore[arg-type]
        )
        for f in range(1 if n_frames > 1 and rows * cols * n_frames > MAX_VOXELS else n_frames)
    ]


@dataclass
class _FileRecord:
    path: Path
    ds: Dataset
    slices: list[SliceHeader]


def _classify(ds: Dataset, n_images: int) -> str:
    sop = _str(ds, "SOPClassUID")
    modality = _str(ds, "Modality").upper()
    image_type = _str(ds, "ImageType").upper().split("\\")
    has_image = bool(_opt_int(ds.get("Rows")))
    if sop.startswith(_SR_PREFIX) or modality == "SR":
        return SeriesKind.STRUCTURED_REPORT
    if sop.startswith(_SC_PREFIX) or modality in ("OT", "SC"):
        return SeriesKind.SECONDARY_CAPTURE
    if sop in _RADIOGRAPH_SOP or (modality in ("DX", "CR") and has_image):
        return SeriesKind.RADIOGRAPH
    if sop in _CT_SOP or (modality == "CT" and has_image):
        if "LOCALIZER" in image_type or "SCOUT" in image_type or "TOPOGRAM" in image_type:
            return SeriesKind.LOCALIZER
        desc = _str(ds, "SeriesDescription").upper()
        if n_images == 1 and any(w in desc for w in ("SCOUT", "TOPOGRAM", "LOCALIZER", "SURVIEW")):
            return SeriesKind.LOCALIZER
        if "DOSE" in desc or ("SECONDARY" in image_type and "SCREEN" in desc):
            return SeriesKind.OTHER  # dose report / screen saved as a CT image
        return SeriesKind.CT_VOLUME
    return SeriesKind.OTHER


def discover(path: Path) -> Inventory:
    """Scan a file or folder (recursively) for DICOM series, reading headers only.

    Parameters
    ----------
    path : a DICOM file, or a folder searched recursively (DICOMDIRs are recognised
        and skipped; non-DICOM files are skipped quietly).

    Returns
    -------
    Inventory
        The groups found, their classification and problems.

    Raises
    ------
    InputError
        The path does not exist, is an empty folder, or holds no DICOM image at all.
    """
    root = Path(path)
    t0 = time.perf_counter()
    if not root.exists():
        raise InputError(
            f"{root} does not exist; give a DICOM folder or file, or a NIfTI/NRRD/MHA volume"
        )
    if root.is_file() and _is_directory_file(root):
        logger.info("%s is a DICOMDIR: scanning its folder %s", root.name, root.parent)
        root = root.parent
    if root.is_dir() and not any(root.iterdir()):
        raise InputError(
            f"{root} is an empty folder; point bonecover at the folder holding the DICOM export"
        )
    records: list[_FileRecord] = []
    skipped: list[SkippedFile] = []
    n_files = n_non_dicom = 0
    for file in _iter_files(root):
        n_files += 1
        kind = _looks_like_dicom(file)
        if kind is False:
            if not os.access(file, os.R_OK):
                skipped.append(SkippedFile(file, "cannot be read (permission denied)"))
            n_non_dicom += 1
            continue
        try:
            ds = read_header(file, force=kind is None)
        except (
            InvalidDicomError,
            OSError,
            EOFError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            IndexError,
            NotImplementedError,
        ) as exc:
            if kind is None:
                n_non_dicom += 1
            else:
                skipped.append(SkippedFile(file, f"unreadable DICOM header ({type(exc).__name__})"))
            continue
        sop_media = _str(getattr(ds, "file_meta", Dataset()), "MediaStorageSOPClassUID")
        if sop_media == _DIRECTORY_SOP or "DirectoryRecordSequence" in ds:
            skipped.append(SkippedFile(file, "DICOMDIR (directory index, no image)"))
            continue
        if not _str(ds, "SOPClassUID") and not _str(ds, "Modality"):
            if kind is None:
                n_non_dicom += 1
            else:
                skipped.append(
                    SkippedFile(file, "unreadable DICOM header (no SOP class or modality)")
                )
            continue
        try:
            slices = _slice_headers(ds, file)
        except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
            skipped.append(SkippedFile(file, f"unreadable image header ({type(exc).__name__})"))
            continue
        records.append(_FileRecord(file, ds, slices))
    if not records and not skipped:
        archives = [p.name for p in _iter_files(root) if p.suffix.lower() in _ARCHIVES]
        hint = f" (unpack the archive(s) {', '.join(archives[:3])} first)" if archives else ""
        raise InputError(
            f"no DICOM files in {root} ({n_files} file(s) looked at){hint}; point bonecover "
            "at the DICOM export, or give a NIfTI/NRRD/MHA volume"
        )
    series = _group(records)
    inv = Inventory(
        root=root,
        series=tuple(series),
        skipped=tuple(skipped),
        n_files=n_files,
        n_non_dicom=n_non_dicom,
        scan_seconds=time.perf_counter() - t0,
    )
    logger.info(
        "scanned %d file(s) in %.2f s: %d series, %d skipped, %d not DICOM",
        n_files,
        inv.scan_seconds,
        len(series),
        len(skipped),
        n_non_dicom,
    )
    return inv


def _group(records: list[_FileRecord]) -> list[SeriesEntry]:
    by_series: dict[tuple[str, str], list[_FileRecord]] = defaultdict(list)
    for rec in records:
        study = _str(rec.ds, "StudyInstanceUID")
        series = _str(rec.ds, "SeriesInstanceUID") or f"(no series UID: {rec.path.parent})"
        by_series[(study, series)].append(rec)
    entries: list[SeriesEntry] = []
    used: dict[str, int] = defaultdict(int)  # parts per series UID, across studies too
    for (_study, series_uid), recs in by_series.items():
        parts = _split(recs)
        for part in parts:
            used[series_uid] += 1
            entries.append(_make_entry(part, used[series_uid], len(parts)))
    first_date: dict[str, str] = {}
    for e in entries:
        first_date[e.study_uid] = min(first_date.get(e.study_uid, e.date), e.date)
    entries.sort(
        key=lambda e: (first_date[e.study_uid], e.study_uid, e.kind != SeriesKind.CT_VOLUME, e.key)
    )
    return entries


def _split(recs: list[_FileRecord]) -> list[list[_FileRecord]]:
    """Split one series into parts of one orientation, size and (if needed) acquisition."""
    groups: dict[tuple[object, ...], list[_FileRecord]] = defaultdict(list)
    for rec in recs:
        s0 = rec.slices[0] if rec.slices else None
        orient = None
        if s0 is not None and s0.orientation is not None:
            orient = tuple(np.round(np.asarray(s0.orientation), 3))
        size = (s0.rows, s0.cols) if s0 else (0, 0)
        enhanced = (s0.n_frames > 1) if s0 else False
        groups[(orient, size, enhanced, rec.path if enhanced else None)].append(rec)
    # Files lacking an orientation join the largest part of their size, so the loader
    # names them ("lacks ImageOrientationPatient") instead of reporting a gap.
    for key in [k for k in groups if k[0] is None and not k[2]]:
        same_size = [k for k in groups if k[0] is not None and k[1] == key[1] and not k[2]]
        if same_size:
            target = max(same_size, key=lambda k: len(groups[k]))
            groups[target].extend(groups.pop(key))
    parts = sorted(groups.values(), key=lambda g: -sum(len(r.slices) for r in g))
    out: list[list[_FileRecord]] = []
    for part in parts:
        out.extend(_split_by_acquisition(part))
    return out


def _split_by_acquisition(recs: list[_FileRecord]) -> list[list[_FileRecord]]:
    """Separate acquisitions only when they overlap (duplicate slice positions)."""
    acqs = {r.slices[0].acquisition_number for r in recs if r.slices}
    if len(acqs) < 2:
        return [recs]
    positions = [s.position_mm for r in recs for s in r.slices if s.position_mm is not None]
    if len(positions) < 2:
        return [recs]
    rounded = {tuple(np.round(p, 2)) for p in positions}
    if len(rounded) == len(positions):
        return [recs]
    by_acq: dict[object, list[_FileRecord]] = defaultdict(list)
    for r in recs:
        by_acq[r.slices[0].acquisition_number if r.slices else None].append(r)
    return sorted(by_acq.values(), key=lambda g: -len(g))


def _make_entry(recs: list[_FileRecord], part: int, n_parts: int) -> SeriesEntry:
    recs = sorted(recs, key=lambda r: str(r.path))
    ds = recs[0].ds
    slices = tuple(s for r in recs for s in r.slices)
    kind = _classify(ds, len(slices))
    series_uid = _str(ds, "SeriesInstanceUID")
    key = series_uid if part == 1 else f"{series_uid}#{part}"
    problems: list[str] = []
    if n_parts > 1:
        problems.append(
            f"series split into {n_parts} parts (mixed orientation, size or acquisition)"
        )
    s0 = slices[0] if slices else None
    rows, cols = (s0.rows, s0.cols) if s0 else (0, 0)
    n_frames_total = sum(r.slices[0].n_frames if r.slices else 1 for r in recs)
    if rows > MAX_SIDE or cols > MAX_SIDE or rows * cols * n_frames_total > MAX_VOXELS:
        problems.append(f"absurd declared size {rows} x {cols} x {n_frames_total}")
    spacing, tag, mag = _spacing(ds, s0)
    step = None
    tilt = 0.0
    if kind == SeriesKind.CT_VOLUME:
        step, tilt = _stack_problems(slices, problems)
    elif kind == SeriesKind.RADIOGRAPH and spacing is None:
        problems.append("no pixel spacing (PixelSpacing / ImagerPixelSpacing missing)")
    thickness = s0.slice_thickness_mm if s0 else None
    return SeriesEntry(
        key=key,
        series_uid=series_uid,
        study_uid=_str(ds, "StudyInstanceUID"),
        frame_of_reference_uid=_str(ds, "FrameOfReferenceUID"),
        kind=kind,
        modality=_str(ds, "Modality"),
        sop_class_uid=_str(ds, "SOPClassUID"),
        description=_str(ds, "SeriesDescription"),
        date=_str(ds, "SeriesDate") or _str(ds, "StudyDate") or _str(ds, "AcquisitionDate"),
        body_part=_str(ds, "BodyPartExamined"),
        laterality=_str(ds, "Laterality") or _str(ds, "ImageLaterality"),
        patient_position=_str(ds, "PatientPosition"),
        view_position=_str(ds, "ViewPosition"),
        manufacturer=_str(ds, "Manufacturer"),
        image_type=tuple(v for v in _str(ds, "ImageType").split("\\") if v),
        rows=rows,
        cols=cols,
        n_slices=len(slices),
        pixel_spacing_mm=spacing,
        slice_step_mm=step,
        slice_thickness_mm=thickness,
        gantry_tilt_deg=tilt,
        files=tuple(r.path for r in recs),
        slices=slices,
        problems=tuple(problems),
        patient=PatientIdentity(
            name=_str(ds, "PatientName"),
            patient_id=_str(ds, "PatientID"),
            birth_date=_str(ds, "PatientBirthDate"),
            sex=_str(ds, "PatientSex"),
        ),
        magnification=_opt_float(ds.get("EstimatedRadiographicMagnificationFactor")),
        spacing_tag=tag,
        n_frames_declared=n_frames_total,
    )


def _spacing(
    ds: Dataset, s0: SliceHeader | None
) -> tuple[tuple[float, float] | None, str, float | None]:
    if s0 is not None and s0.pixel_spacing_mm is not None:
        return s0.pixel_spacing_mm, "PixelSpacing", None
    for tag in ("ImagerPixelSpacing", "NominalScannedPixelSpacing"):
        value = _float_seq(ds.get(tag), 2)
        if value is not None:
            return value, tag, None  # type: ignore[return-value]
    return None, "", None


def stack_problems(slices: Iterable[SliceHeader]) -> tuple[list[str], float | None, float]:
    """Problems the headers of a CT stack show, its median step (mm) and tilt (degrees)."""
    problems: list[str] = []
    step, tilt = _stack_problems(tuple(slices), problems)
    return problems, step, tilt


def _stack_problems(
    slices: tuple[SliceHeader, ...], problems: list[str]
) -> tuple[float | None, float]:
    if len(slices) < 2:
        problems.append("single slice: not a volume")
        return None, 0.0
    missing = [
        s
        for s in slices
        if s.position_mm is None or s.orientation is None or s.pixel_spacing_mm is None
    ]
    if missing:
        problems.append(
            f"missing geometry tags (ImagePositionPatient/ImageOrientationPatient/PixelSpacing) "
            f"in {len(missing)} image(s)"
        )
        return None, 0.0
    spacings = {tuple(np.round(s.pixel_spacing_mm, 4)) for s in slices}  # type: ignore[arg-type]
    if len(spacings) > 1:
        problems.append(f"pixel spacing differs within the series ({len(spacings)} values)")
    orients = np.array([s.orientation for s in slices], dtype=float)
    if np.max(np.abs(orients - orients[0])) > 1e-3:
        problems.append("orientation differs within the series")
    geo = analyse_stack(
        np.array([s.position_mm for s in slices], dtype=float),
        np.asarray(slices[0].orientation),
        np.asarray(slices[0].pixel_spacing_mm),
    )
    if geo.duplicates:
        problems.append(f"{len(geo.duplicates)} duplicate slice position(s)")
    for gap in geo.gaps[:3]:
        problems.append(f"gap: {gap.describe()}")
    if len(geo.gaps) > 3:
        problems.append(f"gap: {len(geo.gaps) - 3} more gap(s)")
    if not geo.uniform and not geo.duplicates and not geo.gaps:
        problems.append("non-uniform slice spacing (will be resampled)")
    tilt = geo.tilt_deg
    if geo.shifted:
        problems.append(f"gantry tilt {tilt:.1f} deg / shifted slices (will be resampled)")
    step = geo.median_step_mm or None
    return step, tilt


def scan_input(path: Path | str) -> Inventory | None:
    """The DICOM inventory of an input (headers only), or None for a volume file or an input
    that cannot be scanned (the loader then says why). Scanned once, used by both pipelines."""
    p = Path(path)
    if p.is_file() and p.suffix.lower() in (".nii", ".gz", ".nrrd", ".mha", ".mhd"):
        return None
    try:
        return discover(p)
    except InputError:
        return None
