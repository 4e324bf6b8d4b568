"""Write a CT volume as a standard DICOM series (one file per slice, CT Image Storage).

Used by the phantom. Geometry is written exactly: ImagePositionPatient of each
slice from the volume's affine, ImageOrientationPatient from its direction,
PixelSpacing as [row spacing, column spacing], stored integers with
RescaleSlope/Intercept. Identity is synthetic and obviously fake.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid

from bonecover import __version__
from bonecover.volume import Volume

__all__ = ["CTSeriesMeta", "StudyMeta", "new_study_meta", "phantom_dataset", "write_ct_series"]

RESCALE_INTERCEPT = -1024.0
RESCALE_SLOPE = 1.0


@dataclass(frozen=True)
class StudyMeta:
    """Identity shared by every series of one synthetic study (all fake)."""

    patient_name: str
    patient_id: str
    study_uid: str
    frame_of_reference_uid: str
    study_date: str
    study_time: str
    accession: str


@dataclass(frozen=True)
class CTSeriesMeta:
    """Per-series header facts.

    ``patient_position`` is written as PatientPosition (``FFS``, ``HFS``); the image
    orientation comes from the volume, so the caller keeps the two consistent.
    ``frame_of_reference_uid`` overrides the study's for a series acquired in its
    own frame (e.g. a separate scan whose origin was reset to zero).
    """

    study: StudyMeta
    series_number: int
    description: str
    laterality: str | None = None  # "L" / "R" for a single-foot series
    patient_position: str = "FFS"
    kernel: str = "BONE"
    kvp: float = 120.0
    frame_of_reference_uid: str | None = None


def new_study_meta(seed: int) -> StudyMeta:
    """Synthetic patient and study identity for phantom ``seed`` (fresh unique UIDs)."""
    return StudyMeta(
        patient_name=f"PHANTOM^BONECOVER^SEED{seed}",
        patient_id=f"BCPHANTOM-{seed:06d}",
        study_uid=generate_uid(),
        frame_of_reference_uid=generate_uid(),
        study_date="20260101",
        study_time="120000",
        accession=f"BC{seed:08d}",
    )


def phantom_dataset(sop_class_uid: UID, modality: str, study: StudyMeta, sop_uid: UID) -> FileDataset:
    """A phantom file's dataset with its file meta, the fake (de-identified) patient and the study.

    Parameters
    ----------
    sop_class_uid : storage SOP class of the file.
    modality : DICOM Modality (``CT``, ``DX``).
    study : the study and fake patient the file belongs to.
    sop_uid : SOPInstanceUID of the file.
    """
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = sop_class_uid
    fm.MediaStorageSOPInstanceUID = sop_uid
    fm.TransferSyntaxUID = ExplicitVRLittleEndian
    fm.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset("", {}, file_meta=fm, preamble=b"\x00" * 128)
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_uid
    ds.Modality = modality
    ds.Manufacturer = "bonecover phantom"
    ds.ManufacturerModelName = f"bonecover {__version__}"
    ds.InstitutionName = "SYNTHETIC"
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.PatientIdentityRemoved = "YES"
    ds.StudyInstanceUID = study.study_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study.study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = study.study_time
    ds.AccessionNumber = study.accession
    ds.StudyID = "1"
    return ds


def _slice_dataset(meta: CTSeriesMeta, series_uid: str, volume: Volume, k: int,
                   stored: np.ndarray) -> FileDataset:
    sop_uid = generate_uid()
    st = meta.study
    ds = phantom_dataset(CTImageStorage, "CT", st, sop_uid)
    ds.StudyDescription = "CT FEET BILATERAL (SYNTHETIC PHANTOM)"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = meta.series_number
    ds.SeriesDescription = meta.description
    ds.FrameOfReferenceUID = meta.frame_of_reference_uid or st.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.BodyPartExamined = "FOOT"
    if meta.laterality is not None:
        ds.Laterality = meta.laterality
    ds.PatientPosition = meta.patient_position
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceNumber = k + 1
    ds.AcquisitionNumber = 1
    ds.KVP = meta.kvp
    ds.ConvolutionKernel = meta.kernel
    position = volume.index_to_world(np.array([[0.0, 0.0, float(k)]]))[0]
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    d = volume.direction
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in np.concatenate([d[:, 0], d[:, 1]])]
    normal = np.cross(d[:, 0], d[:, 1])
    ds.SliceLocation = f"{float(position @ normal):.6f}"
    sp = volume.spacing_mm
    ds.PixelSpacing = [f"{sp[1]:.6f}", f"{sp[0]:.6f}"]  # row spacing (between rows), column spacing
    ds.SliceThickness = f"{sp[2]:.6f}"
    ds.SpacingBetweenSlices = f"{sp[2]:.6f}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(stored.shape[0]), int(stored.shape[1])
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = f"{RESCALE_INTERCEPT:g}"
    ds.RescaleSlope = f"{RESCALE_SLOPE:g}"
    ds.RescaleType = "HU"
    ds.WindowCenter = ["500", "40"]
    ds.WindowWidth = ["2000", "400"]
    ds.PixelData = np.ascontiguousarray(stored, dtype="<u2").tobytes()
    return ds


def write_ct_series(volume: Volume, meta: CTSeriesMeta, folder: Path) -> str:
    """Write ``volume`` (HU) as one DICOM file per slice into ``folder``; returns the series UID.

    The series appears atomically: files are written into a temporary sibling
    folder that is renamed into place. An existing ``folder`` is never overwritten.
    """
    folder = Path(folder)
    if folder.exists():
        raise FileExistsError(f"{folder} already exists; choose an empty output folder")
    if not np.allclose(np.linalg.norm(np.cross(volume.direction[:, 0], volume.direction[:, 1])), 1.0):
        raise ValueError("write_ct_series needs orthogonal row and column directions")
    series_uid = generate_uid()
    hu = np.asarray(volume.array, dtype=np.float64)
    stored = np.clip(np.rint((hu - RESCALE_INTERCEPT) / RESCALE_SLOPE), 0, 4095).astype(np.uint16)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for k in range(stored.shape[0]):
            ds = _slice_dataset(meta, series_uid, volume, k, stored[k])
            ds.save_as(tmp / f"IM{k + 1:05d}.dcm", enforce_file_format=True)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return series_uid


