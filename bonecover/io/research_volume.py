"""Reading research volumes (NIfTI, NRRD, MetaImage) with their geometry.

SimpleITK reads the file and already converts NIfTI's RAS convention to LPS, so
the returned :class:`~bonecover.volume.Volume` is in patient LPS millimetres like
every DICOM-derived volume. The header is read first so absurd sizes are refused
before any allocation; NaN or infinite voxels are refused after reading.
"""

from __future__ import annotations

import gzip
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import SimpleITK as sitk

from bonecover.errors import InputError
from bonecover.io.dicom_pixels import MAX_SIDE, MAX_VOXELS
from bonecover.volume import Volume

if TYPE_CHECKING:
    from bonecover.io.ct_loader import SeriesInfo

__all__ = ["LoadedResearchVolume", "load_research_volume"]

logger = logging.getLogger(__name__)

_FORMATS = {
    ".nii": "nifti",
    ".nii.gz": "nifti",
    ".nrrd": "nrrd",
    ".mha": "metaimage",
    ".mhd": "metaimage",
}


@dataclass(frozen=True)
class LoadedResearchVolume:
    """A research volume as a CT-like result (see :class:`bonecover.io.ct_loader.LoadedCT`)."""

    volume: Volume
    info: SeriesInfo
    warnings: tuple[str, ...]


def _format(path: Path) -> str:
    name = path.name.lower()
    for sfx, fmt in sorted(_FORMATS.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(sfx):
            return fmt
    raise InputError(f"{path}: unknown volume format; use .nii, .nii.gz, .nrrd, .mha or .mhd")


def _nifti_nonfinite(path: Path) -> int:
    """Count NaN/inf voxels in the raw data of a float NIfTI-1/2 file (0 for integer data).

    ITK's NIfTI reader silently turns non-finite voxels into 0, so they are counted
    from the file itself before SimpleITK reads it.
    """
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        head = fh.read(540)
        if len(head) < 348:
            return 0
        for endian in ("<", ">"):
            size = int(np.frombuffer(head[:4], dtype=f"{endian}i4")[0])
            if size in (348, 540):
                break
        else:
            return 0
        if size == 348:
            datatype = int(np.frombuffer(head[70:72], dtype=f"{endian}i2")[0])
            offset = int(np.frombuffer(head[108:112], dtype=f"{endian}f4")[0])
        else:
            datatype = int(np.frombuffer(head[12:14], dtype=f"{endian}i2")[0])
            offset = int(np.frombuffer(head[168:176], dtype=f"{endian}i8")[0])
        dtype = {16: "f4", 64: "f8"}.get(datatype)
        if dtype is None:
            return 0
        fh.seek(max(offset, size))
        count = 0
        item = np.dtype(f"{endian}{dtype}")
        chunk_items = 8 * 1024 * 1024
        while True:
            raw = fh.read(chunk_items * item.itemsize)
            if not raw:
                break
            usable = len(raw) - len(raw) % item.itemsize
            values = np.frombuffer(raw[:usable], dtype=item)
            count += int(np.count_nonzero(~np.isfinite(values)))
        return count


def load_research_volume(path: Path) -> LoadedResearchVolume:
    """Load a NIfTI / NRRD / MetaImage volume as HU with LPS geometry.

    Parameters
    ----------
    path : ``.nii``, ``.nii.gz``, ``.nrrd``, ``.mha`` or ``.mhd`` file holding a 3-D
        scalar image in HU.

    Returns
    -------
    LoadedResearchVolume
        ``volume`` is ``int16`` when all values are integers that fit, else ``float32``.

    Raises
    ------
    InputError
        Missing or unreadable file, not 3-D scalar, absurd size, NaN/inf voxels.
    """
    from bonecover.io.ct_loader import SeriesInfo

    path = Path(path)
    fmt = _format(path)
    if not path.exists():
        raise InputError(
            f"{path} does not exist; give a DICOM folder or file, or a NIfTI/NRRD/MHA volume"
        )
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown reason"
        raise InputError(
            f"{path}: cannot read this {fmt} file ({first[:160]}); check the file"
        ) from None
    size = reader.GetSize()
    ncomp = reader.GetNumberOfComponents()
    if len(size) != 3 and not (len(size) == 4 and size[3] == 1):
        raise InputError(
            f"{path}: a {len(size)}-D image of size {tuple(size)}; "
            "bonecover needs one 3-D CT volume"
        )
    if ncomp != 1:
        raise InputError(
            f"{path}: {ncomp} components per voxel; bonecover needs a scalar CT volume in HU"
        )
    total = int(np.prod(size, dtype=np.int64))
    if max(size[:3]) > MAX_SIDE or total > MAX_VOXELS:
        raise InputError(
            f"{path}: declared size {tuple(size)} ({total:,} voxels) is beyond what bonecover "
            f"accepts (at most {MAX_VOXELS:,}); the header is damaged or this is not a foot CT"
        )
    if fmt == "nifti":
        try:
            nonfinite = _nifti_nonfinite(path)
        except (OSError, EOFError, ValueError) as exc:
            raise InputError(
                f"{path}: cannot read this nifti file ({exc}); check the file"
            ) from None
        if nonfinite:
            raise InputError(
                f"{path}: {nonfinite:,} voxel(s) are NaN or infinite; the volume is damaged: "
                "re-export it with finite HU values"
            )
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown reason"
        raise InputError(
            f"{path}: cannot read the voxels of this {fmt} file ({first[:160]}); check the file"
        ) from None
    if image.GetDimension() == 4:
        image = image[:, :, :, 0]
    array = sitk.GetArrayFromImage(image)
    if np.issubdtype(array.dtype, np.floating):
        bad = ~np.isfinite(array)
        if bad.any():
            raise InputError(
                f"{path}: {int(bad.sum()):,} voxel(s) are NaN or infinite; the volume is damaged: "
                "re-export it with finite HU values"
            )
        if (
            array.size
            and np.array_equal(array, np.rint(array))
            and array.min() >= -32768
            and array.max() <= 32767
        ):
            array = array.astype(np.int16)
        else:
            array = array.astype(np.float32, copy=False)
    elif array.dtype != np.int16:
        if array.size and array.min() >= -32768 and array.max() <= 32767:
            array = array.astype(np.int16)
        else:
            array = array.astype(np.float32)
    direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    from bonecover.volume import affine_from_geometry

    volume = Volume(array, affine_from_geometry(image.GetOrigin(), image.GetSpacing(), direction))
    warnings_: list[str] = []
    if np.linalg.det(direction) < 0:
        warnings_.append(
            f"{path}: left-handed voxel axes (determinant -1); geometry kept as stored"
        )
    info = SeriesInfo(
        study_uid="",
        series_uid="",
        frame_of_reference_uid="",
        modality="CT",
        description=path.name,
        date="",
        body_part="",
        laterality="",
        patient_position="",
        manufacturer="",
        spacing_mm=tuple(float(v) for v in volume.spacing_mm),  # type: ignore[arg-type]
        n_slices=volume.shape[0],
        gantry_tilt_deg=0.0,
        resampled=False,
        files=(path,),
        source=fmt,
    )
    logger.info("read %s volume %s: %r", fmt, path.name, volume)
    return LoadedResearchVolume(volume, info, tuple(warnings_))
