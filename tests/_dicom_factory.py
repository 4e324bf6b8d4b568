"""Writers of small synthetic DICOM for the loader tests (seeded, deterministic).

The CT writer evaluates a known analytic scene -- an ellipsoid of soft tissue with
bright spherical "landmarks" at known LPS positions -- at the exact world position
of every pixel given the slice geometry (positions, orientation, spacing), so any
geometry (tilted, non-uniform, shuffled, multi-frame) has an exact truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)

ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
DX_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
SC_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"

#: Landmark sphere centres (LPS mm) and radius of the default scene.
LANDMARKS_MM = np.array([[-6.0, -4.0, 3.0], [7.0, 5.0, -5.0], [0.0, 8.0, 9.0]])
LANDMARK_RADIUS_MM = 2.5


def scene_hu(xyz: np.ndarray) -> np.ndarray:
    """HU of the analytic scene at (..., 3) LPS points: air, soft tissue, bright spheres."""
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    hu = np.full(x.shape, -1000.0)
    body = (x / 16.0) ** 2 + (y / 14.0) ** 2 + (z / 20.0) ** 2 <= 1.0
    hu[body] = 40.0
    for c in LANDMARKS_MM:
        d2 = np.sum((xyz - c) ** 2, axis=-1)
        hu[d2 <= LANDMARK_RADIUS_MM**2] = 1200.0
    return hu


@dataclass(frozen=True)
class StackSpec:
    """Geometry of a synthetic stack."""

    rows: int = 40
    cols: int = 44
    pixel_spacing: tuple[float, float] = (0.8, 0.75)  # (between rows, between columns)
    iop: tuple[float, ...] = (1, 0, 0, 0, 1, 0)
    normal_positions: tuple[float, ...] = tuple(np.arange(-24.0, 24.01, 1.0))
    tilt_deg: float = 0.0
    centre: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def positions(self) -> np.ndarray:
        """(n, 3) ImagePositionPatient of each slice."""
        iop = np.asarray(self.iop, dtype=float)
        u, v = iop[:3], iop[3:]
        n = np.cross(u, v)
        dr, dc = self.pixel_spacing
        half = 0.5 * ((self.cols - 1) * dc * u + (self.rows - 1) * dr * v)
        t = np.asarray(self.normal_positions, dtype=float)
        shear = np.tan(np.radians(self.tilt_deg))
        base = np.asarray(self.centre) - half
        return base + t[:, None] * n + (t * shear)[:, None] * v

    def pixel_world(self, position: np.ndarray) -> np.ndarray:
        """(rows, cols, 3) LPS positions of the pixels of the slice at ``position``."""
        iop = np.asarray(self.iop, dtype=float)
        u, v = iop[:3], iop[3:]
        dr, dc = self.pixel_spacing
        r = np.arange(self.rows)[:, None, None]
        c = np.arange(self.cols)[None, :, None]
        return position + c * dc * u + r * dr * v


def _base_dataset(sop_class: str, *, study: str, series: str, modality: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.Modality = modality
    ds.PatientName = "PHANTOM^SYNTHETIC"
    ds.PatientID = "SYNTH-0001"
    ds.PatientBirthDate = "19000101"
    ds.PatientSex = "O"
    ds.StudyDate = "20260101"
    ds.SeriesDate = "20260101"
    ds.Manufacturer = "bonecover-tests"
    return ds


def _set_pixels(ds: Dataset, stored: np.ndarray, *, signed: bool) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = ds.get("PhotometricInterpretation", "MONOCHROME2")
    ds.Rows, ds.Columns = stored.shape[-2:]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0
    dtype = "<i2" if signed else "<u2"
    ds.PixelData = np.ascontiguousarray(stored.astype(dtype)).tobytes()


def write_ct_series(
    folder: Path,
    spec: StackSpec = StackSpec(),
    *,
    slope: float = 1.0,
    intercept: float = -1024.0,
    signed: bool = False,
    names: Sequence[str] | None = None,
    series_uid: str | None = None,
    study_uid: str | None = None,
    description: str = "FOOT 1.0",
    body_part: str = "FOOT",
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    seed: int = 0,
    instance_order: str = "reverse",
) -> list[Path]:
    """Write a CT Image Storage series of the analytic scene; returns the file paths.

    ``names`` sets file names (default ``IM0000`` ...); ``instance_order`` sets
    InstanceNumber deliberately unlike the spatial order (``"reverse"`` or
    ``"shuffle"``) so that loaders that sort by it fail.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    study = study_uid or generate_uid()
    series = series_uid or generate_uid()
    frame_of_ref = generate_uid()
    positions = spec.positions()
    n = len(positions)
    numbers = np.arange(n)[::-1] + 1 if instance_order == "reverse" else rng.permutation(n) + 1
    paths = []
    for k, pos in enumerate(positions):
        hu = scene_hu(spec.pixel_world(pos))
        stored = np.rint((hu - intercept) / slope)
        ds = _base_dataset(CTImageStorage, study=study, series=series, modality="CT")
        ds.FrameOfReferenceUID = frame_of_ref
        ds.SeriesDescription = description
        ds.BodyPartExamined = body_part
        ds.PatientPosition = "FFS"
        ds.ImageType = list(image_type)
        ds.SeriesNumber = 3
        ds.InstanceNumber = int(numbers[k])
        ds.ImagePositionPatient = [f"{v:.6f}" for v in pos]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in spec.iop]
        ds.PixelSpacing = [f"{v:.6f}" for v in spec.pixel_spacing]
        ds.SliceThickness = 1.0
        ds.RescaleSlope = f"{slope:g}"
        ds.RescaleIntercept = f"{intercept:g}"
        ds.RescaleType = "HU"
        if spec.tilt_deg:
            ds.GantryDetectorTilt = f"{spec.tilt_deg:g}"
        _set_pixels(ds, stored, signed=signed)
        name = names[k] if names is not None else f"IM{k:04d}"
        path = folder / name
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_enhanced_ct(
    path: Path,
    spec: StackSpec = StackSpec(),
    *,
    shuffle_frames: bool = True,
    seed: int = 0,
    intercept: float = -1024.0,
) -> Path:
    """Write the scene as one Enhanced CT multi-frame file (per-frame functional groups)."""
    rng = np.random.default_rng(seed)
    positions = spec.positions()
    order = rng.permutation(len(positions)) if shuffle_frames else np.arange(len(positions))
    ds = _base_dataset(ENHANCED_CT, study=generate_uid(), series=generate_uid(), modality="CT")
    ds.FrameOfReferenceUID = generate_uid()
    ds.SeriesDescription = "FOOT enhanced"
    ds.BodyPartExamined = "FOOT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.NumberOfFrames = len(positions)
    shared = Dataset()
    orient = Dataset()
    orient.ImageOrientationPatient = [f"{v:.6f}" for v in spec.iop]
    shared.PlaneOrientationSequence = DicomSequence([orient])
    meas = Dataset()
    meas.PixelSpacing = [f"{v:.6f}" for v in spec.pixel_spacing]
    meas.SliceThickness = 1.0
    shared.PixelMeasuresSequence = DicomSequence([meas])
    xform = Dataset()
    xform.RescaleSlope = "1"
    xform.RescaleIntercept = f"{intercept:g}"
    xform.RescaleType = "HU"
    shared.PixelValueTransformationSequence = DicomSequence([xform])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    per_frame = []
    frames = []
    for k in order:
        item = Dataset()
        plane = Dataset()
        plane.ImagePositionPatient = [f"{v:.6f}" for v in positions[k]]
        item.PlanePositionSequence = DicomSequence([plane])
        per_frame.append(item)
        frames.append(np.rint(scene_hu(spec.pixel_world(positions[k])) - intercept))
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    _set_pixels(ds, np.stack(frames), signed=False)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_radiograph(
    path: Path,
    *,
    rows: int = 60,
    cols: int = 80,
    photometric: str = "MONOCHROME1",
    spacing_tag: str = "ImagerPixelSpacing",
    spacing: tuple[float, float] = (0.15, 0.15),
    magnification: float | None = 1.1,
    laterality: str = "L",
    view: str = "AP",
    seed: int = 0,
) -> tuple[Path, np.ndarray]:
    """Write a DX radiograph with a bright 'bone' bar; returns the path and the bone mask."""
    rng = np.random.default_rng(seed)
    ds = _base_dataset(DX_PRESENTATION, study=generate_uid(), series=generate_uid(), modality="DX")
    ds.BodyPartExamined = "FOOT"
    ds.ImageLaterality = laterality
    ds.ViewPosition = view
    ds.PhotometricInterpretation = photometric
    ds.SeriesDescription = "Foot DP"
    if spacing_tag:
        setattr(ds, spacing_tag, [f"{v:g}" for v in spacing])
    if magnification is not None:
        ds.EstimatedRadiographicMagnificationFactor = f"{magnification:g}"
    bone = np.zeros((rows, cols), dtype=bool)
    bone[rows // 3 : 2 * rows // 3, cols // 4 : 3 * cols // 4] = True
    attenuation = np.where(bone, 3000, 1000) + rng.integers(0, 20, size=(rows, cols))
    stored = attenuation if photometric == "MONOCHROME2" else 4095 - attenuation
    _set_pixels(ds, stored, signed=False)
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.save_as(path, enforce_file_format=True)
    return path, bone


def write_secondary_capture(path: Path) -> Path:
    """A small greyscale secondary capture (a screenshot-like image)."""
    ds = _base_dataset(SC_STORAGE, study=generate_uid(), series=generate_uid(), modality="OT")
    ds.ConversionType = "WSD"
    _set_pixels(ds, np.zeros((8, 8)), signed=False)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_structured_report(path: Path) -> Path:
    """A minimal SR document (no pixel data)."""
    ds = _base_dataset(BASIC_TEXT_SR, study=generate_uid(), series=generate_uid(), modality="SR")
    ds.ValueType = "CONTAINER"
    ds.save_as(path, enforce_file_format=True)
    return path


def write_dicomdir_like(path: Path) -> Path:
    """A DICOMDIR-style directory file (Media Storage Directory, no pixels)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MEDIA_DIRECTORY
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.FileSetID = "TEST"
    ds.DirectoryRecordSequence = DicomSequence([])
    ds.save_as(path, enforce_file_format=True)
    return path


def edit(path: Path, **changes: object) -> None:
    """Rewrite one file with header elements changed (None deletes the element)."""
    ds = pydicom.dcmread(path)
    for key, value in changes.items():
        if value is None:
            if key in ds:
                delattr(ds, key)
        else:
            setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=True)


def blob_centroids_mm(volume, threshold: float = 600.0) -> np.ndarray:  # noqa: ANN001
    """LPS centroids (mm) of the bright blobs of a loaded volume, sorted like LANDMARKS_MM."""
    from scipy import ndimage

    arr = np.asarray(volume.array, dtype=float)
    labels, n = ndimage.label(arr > threshold)
    weights = np.clip(arr - 40.0, 0, None)
    cents = ndimage.center_of_mass(weights, labels, range(1, n + 1))
    kji = np.array(cents, dtype=float).reshape(-1, 3)
    world = volume.index_to_world(kji[:, ::-1])
    order = [int(np.argmin(np.linalg.norm(world - lm, axis=1))) for lm in LANDMARKS_MM]
    return world[order]


def series_to_enhanced(files: Sequence[Path], out: Path) -> Path:
    """Convert a classic single-frame CT series into one Enhanced CT multi-frame file.

    Frames keep the order of ``files`` (any order); each frame carries its own
    position and rescale in the per-frame functional groups.
    """
    datasets = [pydicom.dcmread(f) for f in files]
    first = datasets[0]
    ds = _base_dataset(
        ENHANCED_CT,
        study=first.StudyInstanceUID,
        series=generate_uid(),
        modality="CT",
    )
    ds.FrameOfReferenceUID = first.get("FrameOfReferenceUID", generate_uid())
    ds.SeriesDescription = f"{first.get('SeriesDescription', '')} (enhanced)"
    ds.BodyPartExamined = first.get("BodyPartExamined", "")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.NumberOfFrames = len(datasets)
    shared = Dataset()
    orient = Dataset()
    orient.ImageOrientationPatient = first.ImageOrientationPatient
    shared.PlaneOrientationSequence = DicomSequence([orient])
    meas = Dataset()
    meas.PixelSpacing = first.PixelSpacing
    meas.SliceThickness = first.get("SliceThickness", 1.0)
    shared.PixelMeasuresSequence = DicomSequence([meas])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    per_frame = []
    for src in datasets:
        item = Dataset()
        plane = Dataset()
        plane.ImagePositionPatient = src.ImagePositionPatient
        item.PlanePositionSequence = DicomSequence([plane])
        xform = Dataset()
        xform.RescaleSlope = src.get("RescaleSlope", 1)
        xform.RescaleIntercept = src.get("RescaleIntercept", 0)
        xform.RescaleType = "HU"
        item.PixelValueTransformationSequence = DicomSequence([xform])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    signed = int(first.PixelRepresentation) == 1
    _set_pixels(ds, np.stack([d.pixel_array for d in datasets]), signed=signed)
    ds.save_as(out, enforce_file_format=True)
    return out


def write_slices(
    folder: Path,
    slices_hu: np.ndarray,
    positions: np.ndarray,
    *,
    iop: Sequence[float],
    pixel_spacing: tuple[float, float],
    description: str = "FOOT tilted",
    tilt_deg: float | None = None,
) -> list[Path]:
    """Write given HU slices at given ImagePositionPatient as a CT series (intercept -1024)."""
    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame_of_ref = generate_uid(), generate_uid(), generate_uid()
    paths = []
    for k, (hu, pos) in enumerate(zip(slices_hu, positions, strict=True)):
        ds = _base_dataset(CTImageStorage, study=study, series=series, modality="CT")
        ds.FrameOfReferenceUID = frame_of_ref
        ds.SeriesDescription = description
        ds.BodyPartExamined = "FOOT"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{v:.6f}" for v in pos]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in iop]
        ds.PixelSpacing = [f"{v:.6f}" for v in pixel_spacing]
        ds.RescaleSlope, ds.RescaleIntercept = "1", "-1024"
        if tilt_deg is not None:
            ds.GantryDetectorTilt = f"{tilt_deg:g}"
        stored = np.clip(np.rint(np.asarray(hu, float) + 1024), 0, 65535)
        _set_pixels(ds, stored, signed=False)
        path = folder / f"IM{k:04d}"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
