"""Write a radiograph as a DX DICOM file (Digital X-Ray Image Storage - For Presentation).

Used by the radiograph phantom. ImagerPixelSpacing is the detector spacing;
EstimatedRadiographicMagnificationFactor, DistanceSourceToDetector and
DistanceSourceToPatient state the geometry; ViewPosition, ImageLaterality,
PatientOrientation and BodyPartExamined say what the image shows. Identity is
synthetic and obviously fake (the CT phantom's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.uid import UID, generate_uid

from bonecover.io.dicom_write import StudyMeta, phantom_dataset

__all__ = ["DX_PRESENTATION_STORAGE", "DXImageMeta", "write_dx_image"]

DX_PRESENTATION_STORAGE = UID("1.2.840.10008.5.1.4.1.1.1.1")


@dataclass(frozen=True)
class DXImageMeta:
    """Header facts of one radiograph."""

    study: StudyMeta
    series_number: int
    description: str
    laterality: str  # "L", "R" or "B"
    pixel_mm: float  # ImagerPixelSpacing (both directions)
    magnification: float
    source_image_distance_mm: float
    photometric: str = "MONOCHROME2"
    view_position: str = "AP"  # dorsoplantar foot views are coded AP in DICOM's ViewPosition
    patient_orientation: tuple[str, str] = ("L", "P")


def write_dx_image(stored: np.ndarray, meta: DXImageMeta, path: Path) -> str:
    """Write (rows, cols) 12-bit ``stored`` values as a DX file at ``path``; returns the series UID.

    Never overwrites: raises FileExistsError if ``path`` exists.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} already exists; choose an empty output folder")
    if meta.photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError(f"photometric must be MONOCHROME1 or MONOCHROME2; got {meta.photometric!r}")
    sop_uid = generate_uid()
    series_uid = generate_uid()
    st = meta.study
    ds = phantom_dataset(DX_PRESENTATION_STORAGE, "DX", st, sop_uid)
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.StudyDescription = "XR FEET DP (SYNTHETIC PHANTOM)"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = meta.series_number
    ds.SeriesDescription = meta.description
    ds.InstanceNumber = 1
    ds.BodyPartExamined = "FOOT"
    ds.ImageLaterality = meta.laterality
    if meta.laterality in ("L", "R"):
        ds.Laterality = meta.laterality
    ds.ViewPosition = meta.view_position
    ds.PatientOrientation = list(meta.patient_orientation)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.KVP = 55.0
    ds.ImagerPixelSpacing = [f"{meta.pixel_mm:.6f}", f"{meta.pixel_mm:.6f}"]
    ds.EstimatedRadiographicMagnificationFactor = f"{meta.magnification:.6f}"
    ds.DistanceSourceToDetector = f"{meta.source_image_distance_mm:.3f}"
    ds.DistanceSourceToPatient = f"{meta.source_image_distance_mm / meta.magnification:.3f}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = meta.photometric
    ds.Rows, ds.Columns = int(stored.shape[0]), int(stored.shape[1])
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelIntensityRelationshipSign = 1 if meta.photometric == "MONOCHROME2" else -1
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.WindowCenter = "2048"
    ds.WindowWidth = "4096"
    ds.PixelData = np.ascontiguousarray(np.clip(stored, 0, 4095), dtype="<u2").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    ds.save_as(tmp, enforce_file_format=True)
    tmp.rename(path)
    return series_uid
