"""Reading a DX/CR radiograph as a 2-D image with bone bright and its pixel spacing.

The pixel spacing comes from ImagerPixelSpacing (the detector plane) when present,
otherwise PixelSpacing, otherwise NominalScannedPixelSpacing (film digitisers); the
tag used is recorded. EstimatedRadiographicMagnificationFactor, when present, gives
the spacing at the patient (detector spacing / factor). MONOCHROME1 images (low
values displayed white) are inverted so that bone is bright in every result.

PatientOrientation (0020,0020), when present, says where the rows and columns point
in the patient. A dorsoplantar view has the patient's left-right along one image
axis; the image is turned into the standard display (columns towards the patient's
left: the right foot on the viewer's left) by a transpose and / or a left-right
flip, and the operation is recorded. An image with no left-right axis at all (rows
and columns both A/P or H/F) is a lateral view and is refused.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bonecover.errors import InputError
from bonecover.io.dicom_discovery import Inventory, PatientIdentity, SeriesEntry, discover
from bonecover.io.dicom_pixels import read_dataset, read_frames

__all__ = ["LoadedRadiograph", "RadiographInfo", "load_radiograph"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RadiographInfo:
    """Facts about a radiograph (no patient identifiers in ``repr``)."""

    study_uid: str
    series_uid: str
    sop_instance_uid: str
    modality: str
    description: str
    date: str
    body_part: str
    manufacturer: str
    photometric: str
    file: Path
    patient: PatientIdentity = field(repr=False, default_factory=PatientIdentity)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready facts (no patient identifiers)."""
        return {
            "source": "dicom",
            "study_uid": self.study_uid,
            "series_uid": self.series_uid,
            "sop_instance_uid": self.sop_instance_uid,
            "modality": self.modality,
            "description": self.description,
            "date": self.date,
            "body_part": self.body_part,
            "manufacturer": self.manufacturer,
            "photometric": self.photometric,
        }


@dataclass(frozen=True)
class LoadedRadiograph:
    """A radiograph with bone bright, ready for 2-D measurement.

    Attributes
    ----------
    image : (rows, cols) float32, after the modality rescale, inverted for
        MONOCHROME1 so that higher values mean more attenuation (bone bright).
    pixel_spacing_mm : (between rows, between columns) in mm, as stored in
        ``spacing_tag`` (detector plane for ImagerPixelSpacing).
    spacing_tag : ``"ImagerPixelSpacing"``, ``"PixelSpacing"`` or
        ``"NominalScannedPixelSpacing"``.
    magnification : EstimatedRadiographicMagnificationFactor, or None when absent.
    laterality : ``"L"``, ``"R"``, ``"B"`` or '' (ImageLaterality, else Laterality).
    view_position : ViewPosition (e.g. ``"AP"``), or ''.
    info : facts about the image and where it came from.
    warnings : one-line warnings.
    """

    image: np.ndarray
    pixel_spacing_mm: tuple[float, float]
    spacing_tag: str
    magnification: float | None
    laterality: str
    view_position: str
    info: RadiographInfo
    warnings: tuple[str, ...] = ()
    transposed: bool = False
    flipped_columns: bool = False

    def stored_to_display_mm(self, xy_mm: np.ndarray) -> np.ndarray:
        """A point in the stored image (X along a row, Y down a column, detector mm from the
        centre of the top-left pixel) in the image as analysed (after the reorientation)."""
        x, y = (float(v) for v in xy_mm)
        if self.transposed:
            x, y = y, x
        if self.flipped_columns:
            x = (self.image.shape[1] - 1) * self.pixel_spacing_mm[1] - x
        return np.array([x, y])

    @property
    def patient_spacing_mm(self) -> tuple[float, float]:
        """Pixel spacing at the patient: detector spacing / magnification (mm)."""
        if self.magnification and self.spacing_tag == "ImagerPixelSpacing":
            return (
                self.pixel_spacing_mm[0] / self.magnification,
                self.pixel_spacing_mm[1] / self.magnification,
            )
        return self.pixel_spacing_mm


def _orientation(ds: Any, file: Path) -> tuple[bool, bool, str]:
    """(transpose, flip columns, what was done) to bring the image to the standard DP display."""
    raw = ds.get("PatientOrientation", None)
    values = [str(v).strip().upper() for v in (raw or []) if str(v).strip()]
    if len(values) != 2:
        return False, False, ""
    row_dir, col_dir = values
    if row_dir[0] in "LR":
        flip = row_dir[0] == "R"
        return False, flip, ("image flipped left-right to the standard display (PatientOrientation "
                             f"{row_dir}\\{col_dir}: rows ran to the patient's right)" if flip else "")
    if col_dir[0] in "LR":
        flip = col_dir[0] == "R"
        return True, flip, (f"image turned to the standard display (PatientOrientation {row_dir}\\{col_dir}: "
                            "the patient's left-right ran down the columns)")
    raise InputError(f"{file}: PatientOrientation {row_dir}\\{col_dir} has no left-right axis, so this is a "
                     "lateral (or oblique) view; bonecover needs a dorsoplantar (DP/AP) foot radiograph")


def _spacing(ds: object, where: Path) -> tuple[tuple[float, float], str]:
    for tag in ("ImagerPixelSpacing", "PixelSpacing", "NominalScannedPixelSpacing"):
        value = ds.get(tag, None)  # type: ignore[attr-defined]
        if value is None:
            continue
        try:
            sp = tuple(float(v) for v in value)
        except (TypeError, ValueError):
            continue
        if len(sp) == 2 and all(np.isfinite(sp)) and min(sp) > 0:
            return (sp[0], sp[1]), tag
    raise InputError(
        f"{where}: the radiograph has no pixel spacing (ImagerPixelSpacing, PixelSpacing); "
        "without it no length can be measured: export the original DX/CR image"
    )


def load_radiograph(
    path: Path,
    *,
    series_uid: str | None = None,
    inventory: Inventory | None = None,
    pixel_spacing_mm: float | None = None,
) -> LoadedRadiograph:
    """Load one DX/CR radiograph with bone bright and its pixel spacing.

    Parameters
    ----------
    path : a radiograph DICOM file, or a folder searched for one.
    series_uid : series key or SeriesInstanceUID to use when a folder holds several.
    inventory : a :func:`discover` result for ``path`` to reuse.
    pixel_spacing_mm : spacing to use only when the header has none (the user's
        ``--pixel-spacing``); recorded as ``spacing_tag = "user"`` with a warning.

    Returns
    -------
    LoadedRadiograph

    Raises
    ------
    InputError
        Nothing readable, no radiograph, no pixel spacing, multi-frame or colour data,
        damaged pixel data.
    """
    path = Path(path)
    inv = inventory if inventory is not None else discover(path)
    choice = inv.choose(series_uid, modality="DX")
    entry: SeriesEntry = choice.series
    logger.info("radiograph chosen: %s", choice.reason)
    file = entry.files[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = read_dataset(file)
        frames = read_frames(ds, path=file)
    if frames.shape[0] != 1:
        raise InputError(
            f"{file}: radiograph with {frames.shape[0]} frames; bonecover needs one 2-D image"
        )
    try:
        spacing, tag = _spacing(ds, file)
    except InputError:
        if pixel_spacing_mm is None:
            raise InputError(
                f"{file}: the radiograph has no pixel spacing (ImagerPixelSpacing, PixelSpacing); "
                "without it no length can be measured: export the original DX/CR image, or give "
                "--pixel-spacing MM if you know it"
            ) from None
        spacing, tag = (float(pixel_spacing_mm), float(pixel_spacing_mm)), "user"
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    image = frames[0].astype(np.float32) * np.float32(slope) + np.float32(intercept)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    messages: list[str] = []
    if tag == "user":
        messages.append(f"{file.name}: no pixel spacing in the header; --pixel-spacing {pixel_spacing_mm:g} mm used")
    if photometric == "MONOCHROME1":
        image = np.float32(image.max() + image.min()) - image
        messages.append(f"{file.name}: MONOCHROME1 inverted so that bone is bright")
    elif photometric != "MONOCHROME2":
        raise InputError(
            f"{file}: photometric interpretation {photometric}; "
            "bonecover needs a greyscale radiograph"
        )
    mag = ds.get("EstimatedRadiographicMagnificationFactor", None)
    try:
        magnification = float(mag) if mag not in (None, "") else None
    except (TypeError, ValueError):
        magnification = None
    if magnification is not None and not (0.5 < magnification < 3.0):
        messages.append(f"{file.name}: implausible magnification factor {magnification:g} ignored")
        magnification = None
    if len(entry.files) > 1:
        messages.append(
            f"series {entry.key} holds {len(entry.files)} images; the first ({file.name}) is used"
        )
    laterality = str(ds.get("ImageLaterality", "") or ds.get("Laterality", "") or "").strip()
    transposed, flipped, turned = _orientation(ds, file)
    if transposed:
        image = np.ascontiguousarray(image.T)
        spacing = (spacing[1], spacing[0])
    if flipped:
        image = np.ascontiguousarray(image[:, ::-1])
    if turned:
        messages.append(f"{file.name}: {turned}")
    info = RadiographInfo(
        study_uid=entry.study_uid,
        series_uid=entry.series_uid,
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        modality=entry.modality,
        description=entry.description,
        date=entry.date,
        body_part=entry.body_part,
        manufacturer=entry.manufacturer,
        photometric=photometric,
        file=file,
        patient=entry.patient,
    )
    for msg in messages:
        logger.info("%s", msg)
    return LoadedRadiograph(
        image=image,
        pixel_spacing_mm=spacing,
        spacing_tag=tag,
        magnification=magnification,
        laterality=laterality,
        view_position=str(ds.get("ViewPosition", "") or "").strip(),
        info=info,
        warnings=tuple(messages),
        transposed=transposed,
        flipped_columns=flipped,
    )
