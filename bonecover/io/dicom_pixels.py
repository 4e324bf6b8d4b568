"""Decoding DICOM pixel data into stored-value arrays, with sizes checked first.

One function, :func:`read_frames`, turns a DICOM file into its stored pixel values
(before rescale) as a ``(frames, rows, columns)`` array. Native little-endian data
is read straight from the bytes (fast path); every other transfer syntax (big
endian, deflate, RLE, JPEG lossless, JPEG-LS, JPEG 2000) goes through pydicom's
decoders, with the ``pylibjpeg`` plugins installed as dependencies.

Declared sizes are checked against :data:`MAX_VOXELS` *before* any allocation, and
the pixel data length is checked against the declared Rows x Columns x frames.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from bonecover.errors import InputError

__all__ = [
    "MAX_SIDE",
    "MAX_VOXELS",
    "check_declared_size",
    "read_dataset",
    "read_frames",
    "read_native_frames",
]

logger = logging.getLogger(__name__)

#: Largest accepted number of rows or columns of one image (a large flat-panel
#: radiograph is about 4,300 pixels wide).
MAX_SIDE = 16384
#: Largest accepted number of voxels of one series or file (2 GB of int16).
MAX_VOXELS = 1_000_000_000

_NATIVE_LE = {ImplicitVRLittleEndian, ExplicitVRLittleEndian}


def check_declared_size(rows: int, cols: int, frames: int, *, where: str) -> None:
    """Refuse absurd declared image sizes before anything is allocated.

    Parameters
    ----------
    rows, cols : declared Rows and Columns.
    frames : declared number of frames (slices) that will be held together.
    where : the file or series named in the message.

    Raises
    ------
    InputError
        If a side is not positive, exceeds :data:`MAX_SIDE`, or the total exceeds
        :data:`MAX_VOXELS`.
    """
    if rows <= 0 or cols <= 0 or frames <= 0:
        raise InputError(
            f"{where}: declared image size {rows} x {cols} x {frames} frames is empty; "
            "the file is damaged: re-export the series"
        )
    if rows > MAX_SIDE or cols > MAX_SIDE or rows * cols * frames > MAX_VOXELS:
        raise InputError(
            f"{where}: declared image size {rows} x {cols} x {frames} frames "
            f"({rows * cols * frames:,} pixels) is beyond what bonecover accepts "
            f"(at most {MAX_SIDE} per side and {MAX_VOXELS:,} in total); the header is "
            "damaged or this is not a foot image: re-export the series"
        )


def transfer_syntax(ds: Dataset) -> str:
    """Transfer syntax UID of a dataset; guessed from its encoding when the file has no meta.

    Files without the DICOM preamble and file meta (old ACR-NEMA-style exports) are
    read by pydicom with ``force=True``; their encoding is then implicit or explicit
    VR little endian, which this returns.
    """
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID", None) if meta is not None else None
    if uid:
        return str(uid)
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if little is False:
        return "1.2.840.10008.1.2.2"
    return str(ImplicitVRLittleEndian if implicit in (True, None) else ExplicitVRLittleEndian)


def read_dataset(path: Path) -> Dataset:
    """Read a whole DICOM file (header and pixel data) with pydicom.

    Raises
    ------
    InputError
        If the file cannot be opened or parsed.
    """
    try:
        ds = pydicom.dcmread(str(path), force=True)
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read the file ({exc.strerror or exc}); check that it exists and is readable"
        ) from None
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds on bad bytes
        raise InputError(
            f"{path}: not a readable DICOM file ({type(exc).__name__}: {exc}); remove it or re-export the series"
        ) from None
    if "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta.TransferSyntaxUID = UID(transfer_syntax(ds))
    return ds


def _int(ds: Dataset, keyword: str, default: int) -> int:
    value = ds.get(keyword, None)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def read_frames(ds: Dataset, *, path: Path) -> np.ndarray:
    """Stored pixel values of a DICOM dataset as a ``(frames, rows, columns)`` array.

    Parameters
    ----------
    ds : a dataset read with its pixel data (see :func:`read_dataset`).
    path : the file it came from (for messages).

    Returns
    -------
    numpy.ndarray
        ``(frames, rows, columns)`` in native byte order, integer dtype as stored
        (``uint8``/``int8``/``uint16``/``int16``/``uint32``/``int32``), or float for
        float pixel data. No rescale applied. Only single-sample (grey) images.

    Raises
    ------
    InputError
        No pixel data, colour images, absurd or inconsistent declared sizes, pixel
        data shorter or longer than declared, or a compressed stream that does not
        decode.
    """
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise InputError(f"{path}: the file holds no pixel data; it is not an image")
    rows = _int(ds, "Rows", 0)
    cols = _int(ds, "Columns", 0)
    frames = _int(ds, "NumberOfFrames", 1) or 1
    samples = _int(ds, "SamplesPerPixel", 1)
    check_declared_size(rows, cols, frames, where=str(path))
    if samples != 1:
        raise InputError(
            f"{path}: colour image ({samples} samples per pixel, "
            f"{ds.get('PhotometricInterpretation', '?')}); bonecover needs greyscale CT or "
            "radiograph pixel data"
        )
    bits_alloc = _int(ds, "BitsAllocated", 16)
    bits_stored = _int(ds, "BitsStored", bits_alloc)
    signed = _int(ds, "PixelRepresentation", 0) == 1
    tsyntax = transfer_syntax(ds)

    if "PixelData" in ds and tsyntax in _NATIVE_LE and bits_alloc in (8, 16, 32):
        arr = _native_le(ds, rows, cols, frames, bits_alloc, bits_stored, signed, path)
    else:
        arr = _decoded(ds, rows, cols, frames, path)
    return arr


_EXPLICIT_OW = b"\xe0\x7f\x10\x00OW\x00\x00"
_EXPLICIT_OB = b"\xe0\x7f\x10\x00OB\x00\x00"
_IMPLICIT = b"\xe0\x7f\x10\x00"


def read_native_frames(
    path: Path,
    *,
    rows: int,
    cols: int,
    frames: int,
    pixel_format: tuple[str, int, int, int, int],
    buffer: np.ndarray | None = None,
) -> np.ndarray | None:
    """Fast path: stored pixels of an uncompressed little-endian file without parsing it.

    The file's header was already read by the scan, which gives the sizes and
    ``pixel_format`` = (transfer syntax UID, BitsAllocated, BitsStored,
    PixelRepresentation, SamplesPerPixel). The Pixel Data element is located from
    the end of the file and accepted only when its tag and declared length
    (rows x columns x frames x bytes) sit exactly where a final Pixel Data element
    of that size must start; otherwise None is returned and the caller falls back
    to :func:`read_frames`.

    Parameters
    ----------
    buffer : optional 1-D array of the stored dtype and the right size to read into
        (saves an allocation per file when reading a series).

    Returns
    -------
    numpy.ndarray or None
        ``(frames, rows, columns)`` native-endian stored values, or None.
    """
    tsyntax, bits_alloc, bits_stored, pixel_rep, samples = pixel_format
    if tsyntax not in _NATIVE_LE or bits_alloc not in (8, 16, 32) or samples != 1:
        return None
    nbytes = bits_alloc // 8
    count = rows * cols * frames
    expected = count * nbytes
    if expected <= 0:
        return None
    length = expected + (expected & 1)
    tags = [_EXPLICIT_OW, _EXPLICIT_OB] if tsyntax == ExplicitVRLittleEndian else [_IMPLICIT]
    dtype = np.dtype(f"<{'i' if pixel_rep == 1 else 'u'}{nbytes}")
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            offset = None
            for tag in tags:
                start = size - length - len(tag) - 4
                if start < 0:
                    continue
                fh.seek(start)
                head = fh.read(len(tag) + 4)
                if head[: len(tag)] == tag and int.from_bytes(head[len(tag) :], "little") == length:
                    offset = start + len(tag) + 4
                    break
            if offset is None:
                return None
            if buffer is None or buffer.dtype != dtype or buffer.size != count:
                buffer = np.empty(count, dtype=dtype)
            fh.seek(offset)
            if fh.readinto(buffer.data.cast("B")) != expected:
                return None
    except OSError:
        return None
    arr = buffer.reshape(frames, rows, cols)
    if bits_stored < bits_alloc:
        shift = bits_alloc - bits_stored
        arr = (arr << shift) >> shift if pixel_rep == 1 else arr & dtype.type((1 << bits_stored) - 1)
    return arr


def _native_le(
    ds: Dataset,
    rows: int,
    cols: int,
    frames: int,
    bits_alloc: int,
    bits_stored: int,
    signed: bool,
    path: Path,
) -> np.ndarray:
    raw = ds.PixelData
    nbytes = bits_alloc // 8
    expected = rows * cols * frames * nbytes
    if len(raw) < expected or len(raw) > expected + 1:  # +1: even-length padding
        raise InputError(
            f"{path}: pixel data holds {len(raw):,} bytes but the header declares "
            f"{rows} rows x {cols} columns x {frames} frames x {nbytes} bytes = {expected:,}; "
            "the file is truncated or its header is wrong: remove it or re-export the series"
        )
    dtype = np.dtype(f"<{'i' if signed else 'u'}{nbytes}")
    arr = np.frombuffer(raw, dtype=dtype, count=rows * cols * frames).reshape(frames, rows, cols)
    if bits_stored < bits_alloc:
        shift = bits_alloc - bits_stored
        if signed:  # sign-extend from BitsStored
            arr = (arr << shift) >> shift
        else:  # drop stray high bits (old overlay planes)
            arr = arr & dtype.type((1 << bits_stored) - 1)
    return arr.astype(dtype.newbyteorder("="), copy=True)


#: JPEG lossless and JPEG-LS decode about 3x faster with GDCM (python-gdcm) than with
#: pylibjpeg-libjpeg, which pydicom would pick first; JPEG 2000 stays with openjpeg.
_GDCM_FIRST = {
    "1.2.840.10008.1.2.4.57",  # JPEG lossless, non-hierarchical (process 14)
    "1.2.840.10008.1.2.4.70",  # JPEG lossless, first-order prediction (SV1)
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
}


@functools.cache
def _gdcm_available() -> bool:
    return importlib.util.find_spec("gdcm") is not None


def _pixel_array(ds: Dataset, tsyntax: str) -> np.ndarray:
    """Decode with GDCM where it is faster and installed, else pydicom's default plugin."""
    if tsyntax in _GDCM_FIRST and _gdcm_available():
        try:
            ds.pixel_array_options(decoding_plugin="gdcm")
            return np.asarray(ds.pixel_array)
        except Exception:  # noqa: BLE001 - fall back to the default decoder
            logger.debug("GDCM could not decode %s; trying pydicom's default", tsyntax)
        ds.pixel_array_options(decoding_plugin="")
    return np.asarray(ds.pixel_array)


def _decoded(ds: Dataset, rows: int, cols: int, frames: int, path: Path) -> np.ndarray:
    tsyntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    name = getattr(tsyntax, "name", str(tsyntax))
    try:
        arr = _pixel_array(ds, str(tsyntax))
    except Exception as exc:  # noqa: BLE001 - decoder plugins raise many kinds
        raise InputError(
            f"{path}: pixel data in transfer syntax {name} could not be decoded "
            f"({type(exc).__name__}: {exc}); the file is truncated or damaged, or needs a "
            "decoder that is not installed: re-export it uncompressed"
        ) from None
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.shape != (frames, rows, cols):
        raise InputError(
            f"{path}: decoded pixel data has shape {arr.shape} but the header declares "
            f"{frames} frames x {rows} rows x {cols} columns; re-export the series"
        )
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr
