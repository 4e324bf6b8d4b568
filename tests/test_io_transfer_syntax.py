"""Every transfer syntax decodes to the same pixels: real files and self-transcoded series."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _dicom_factory import write_ct_series
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

from bonecover.io import load_ct
from bonecover.io.dicom_pixels import read_dataset, read_frames

TS_NAMES = {
    1: "1.2.840.10008.1.2.1",  # explicit VR little endian
    2: "1.2.840.10008.1.2",  # implicit VR little endian
    3: "1.2.840.10008.1.2.2",  # explicit VR big endian
    4: "1.2.840.10008.1.2.5",  # RLE lossless
    5: "1.2.840.10008.1.2.4.70",  # JPEG lossless P14 SV1
    6: "1.2.840.10008.1.2.4.70",  # JPEG lossless (gdcm)
    7: "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless (gdcm)
    8: "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless (dcmtk)
    9: "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
}


def _decode(path: Path) -> np.ndarray:
    return read_frames(read_dataset(path), path=path)


@pytest.mark.parametrize("gdcm", [True, False], ids=["gdcm-first", "pylibjpeg-only"])
def test_nine_real_transfer_syntaxes_identical(fixtures_dir: Path, monkeypatch, gdcm: bool) -> None:  # noqa: ANN001
    """Both decoder routes (GDCM for JPEG lossless/JPEG-LS when installed, or pylibjpeg)."""
    import bonecover.io.dicom_pixels as dp

    if gdcm and not dp._gdcm_available():
        pytest.skip("python-gdcm not installed")
    monkeypatch.setattr(dp, "_gdcm_available", lambda: gdcm)
    folder = fixtures_dir / "dcm_qa_ts"
    ref = _decode(folder / "1.dcm")
    assert ref.shape == (1, 384, 384) and ref.dtype == np.uint16 and ref.max() > 100
    for n, uid in TS_NAMES.items():
        path = folder / f"{n}.dcm"
        assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == uid
        arr = _decode(path)
        assert arr.dtype.isnative, n
        np.testing.assert_array_equal(arr, ref, err_msg=f"{n}.dcm ({uid})")


# ------------------------------------------------------------- self-transcoded series
@pytest.fixture(scope="module")
def reference_series(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, np.ndarray, np.ndarray]:
    folder = tmp_path_factory.mktemp("ts") / "native"
    write_ct_series(folder)
    ct = load_ct(folder)
    return folder, np.asarray(ct.volume.array), ct.volume.affine


def _transcode_pydicom(src: Path, dst: Path, uid: str) -> None:
    dst.mkdir(parents=True)
    for f in sorted(src.iterdir()):
        ds = pydicom.dcmread(f)
        if uid in (RLELossless, JPEG2000Lossless):
            ds.compress(uid)
        elif uid == ExplicitVRBigEndian:
            ds.PixelData = ds.pixel_array.astype(">u2").tobytes()
            ds.file_meta.TransferSyntaxUID = uid
        else:
            ds.file_meta.TransferSyntaxUID = uid
        if uid == ExplicitVRBigEndian:
            pydicom.dcmwrite(dst / f.name, ds, implicit_vr=False, little_endian=False, force_encoding=True)
        else:
            ds.save_as(dst / f.name, implicit_vr=uid == ImplicitVRLittleEndian)


@pytest.mark.parametrize(
    "uid",
    [
        ImplicitVRLittleEndian,
        ExplicitVRBigEndian,
        DeflatedExplicitVRLittleEndian,
        RLELossless,
        JPEG2000Lossless,
    ],
    ids=["implicit", "big-endian", "deflate", "rle", "j2k-lossless"],
)
def test_pydicom_transcoded_series_identical(reference_series, tmp_path: Path, uid: str) -> None:  # noqa: ANN001
    src, ref, affine = reference_series
    dst = tmp_path / "out"
    _transcode_pydicom(src, dst, uid)
    assert pydicom.dcmread(next(dst.iterdir()), stop_before_pixels=True).file_meta.TransferSyntaxUID == uid
    ct = load_ct(dst)
    np.testing.assert_array_equal(ct.volume.array, ref)
    np.testing.assert_allclose(ct.volume.affine, affine, atol=1e-9)


@pytest.mark.parametrize(
    ("flag", "uid"),
    [
        ("--jpeg", "1.2.840.10008.1.2.4.70"),
        ("--jpegls", "1.2.840.10008.1.2.4.80"),
        ("--j2k", "1.2.840.10008.1.2.4.90"),
        ("--rle", "1.2.840.10008.1.2.5"),
        ("--deflated", "1.2.840.10008.1.2.1.99"),
    ],
    ids=["jpeg-lossless", "jpeg-ls", "j2k", "rle", "deflate"],
)
def test_gdcmconv_transcoded_series_identical(
    reference_series,
    tmp_path: Path,
    gdcmconv: str,
    flag: str,
    uid: str,  # noqa: ANN001
) -> None:
    src, ref, affine = reference_series
    dst = tmp_path / "out"
    dst.mkdir()
    for f in sorted(src.iterdir()):
        subprocess.run([gdcmconv, flag, str(f), str(dst / f.name)], check=True, capture_output=True, timeout=60)
    got = pydicom.dcmread(next(dst.iterdir()), stop_before_pixels=True).file_meta.TransferSyntaxUID
    if got != uid and flag == "--deflated" and not gdcmconv.startswith("/usr/bin/"):
        pytest.skip(f"{gdcmconv} (not Debian's) does not write deflated files")
    assert got == uid
    ct = load_ct(dst)
    np.testing.assert_array_equal(ct.volume.array, ref)
    np.testing.assert_allclose(ct.volume.affine, affine, atol=1e-9)


def test_mixed_transfer_syntaxes_within_one_series(reference_series, tmp_path: Path) -> None:  # noqa: ANN001
    src, ref, _ = reference_series
    dst = tmp_path / "mixed"
    shutil.copytree(src, dst)
    for n, f in enumerate(sorted(dst.iterdir())):
        if n % 2:
            ds = pydicom.dcmread(f)
            ds.compress(RLELossless)
            ds.save_as(f)
    np.testing.assert_array_equal(load_ct(dst).volume.array, ref)
