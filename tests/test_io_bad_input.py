"""Every bad-input case of the loader raises InputError (exit 2) with a one-line, useful message."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from _dicom_factory import (
    StackSpec,
    edit,
    write_ct_series,
    write_enhanced_ct,
    write_radiograph,
    write_secondary_capture,
    write_structured_report,
)

from bonecover.errors import InputError
from bonecover.io import discover, load_ct, load_radiograph


def _raises(match: str, func, *args, **kwargs) -> str:  # noqa: ANN001
    with pytest.raises(InputError, match=match) as info:
        func(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and info.value.exit_code == 2
    return message


def _truncate(path: Path, keep_bytes: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - keep_bytes])


def test_path_missing(tmp_path: Path) -> None:
    msg = _raises("does not exist", load_ct, tmp_path / "nope")
    assert str(tmp_path / "nope") in msg
    _raises("does not exist", discover, tmp_path / "nope")
    _raises("does not exist", load_ct, tmp_path / "nope.nii.gz")


def test_empty_folder(tmp_path: Path) -> None:
    _raises("is an empty folder", load_ct, tmp_path)


def test_no_dicom(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not dicom")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    _raises(r"no DICOM files in .* \(2 file\(s\) looked at\)", load_ct, tmp_path)


def test_dicom_but_no_ct_or_radiograph(tmp_path: Path) -> None:
    write_secondary_capture(tmp_path / "sc.dcm")
    write_structured_report(tmp_path / "sr.dcm")
    msg = _raises("no CT volume series", load_ct, tmp_path)
    assert "1 secondary capture (OT)" in msg and "1 structured report (SR)" in msg
    _raises("no CT volume series and no radiograph", discover(tmp_path).choose)
    _raises("no radiograph", load_radiograph, tmp_path)


def test_radiograph_only_is_not_a_ct(tmp_path: Path) -> None:
    write_radiograph(tmp_path / "dx.dcm")
    _raises("no CT volume series", load_ct, tmp_path)
    _raises(r"is a radiograph \(DX\), not a CT image", load_ct, tmp_path / "dx.dcm")


def test_truncated_end_slice_is_skipped_with_warning(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "s")
    _truncate(paths[-1], 1000)  # the last slice along the normal
    ct = load_ct(tmp_path / "s")
    assert ct.volume.shape[0] == 48
    assert any("skipped 1 damaged file(s): IM0048" in w for w in ct.warnings)


def test_truncated_middle_slice_is_an_error_naming_it(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "s")
    _truncate(paths[20], 1000)
    msg = _raises("damaged file", load_ct, tmp_path / "s")
    assert "IM0020 (pixel data holds" in msg and "gap" in msg


def test_corrupt_header_among_good_files_leaves_a_named_gap(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "s")
    data = bytearray(paths[20].read_bytes())
    data[140:400] = b"\xff" * 260  # wreck the header after the preamble
    paths[20].write_bytes(bytes(data))
    inv = discover(tmp_path / "s")
    assert any(s.path.name == "IM0020" and "unreadable" in s.reason for s in inv.skipped)
    msg = _raises("slices are missing", load_ct, tmp_path / "s")
    assert "1 unreadable file(s) were skipped (IM0020)" in msg


def test_missing_geometry_tags(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "s")
    edit(paths[7], ImagePositionPatient=None)
    msg = _raises("lacks geometry tag", load_ct, tmp_path / "s")
    assert "IM0007" in msg and "ImagePositionPatient" in msg
    assert any("missing geometry" in p for p in discover(tmp_path / "s").series[0].problems)


def test_pixel_spacing_differs_within_series(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "s")
    edit(paths[11], PixelSpacing=["0.9", "0.9"])
    msg = _raises("pixel spacing differs within the series", load_ct, tmp_path / "s")
    assert "IM0011" in msg


def test_one_slice_volume(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "s", StackSpec(normal_positions=(0.0,)))
    _raises("has a single slice", load_ct, tmp_path / "s")


def test_declared_rows_do_not_match_pixel_data(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "s")
    for p in paths:
        edit(p, Rows=41)  # 41 x 44 declared, 40 x 44 stored
    msg = _raises("pixel data holds 3,520 bytes but the header declares 41 rows", load_ct, tmp_path / "s")
    assert "re-export" in msg


def test_one_file_with_other_rows_is_named(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "s")
    edit(paths[25], Rows=39)
    msg = _raises("slices are missing", load_ct, tmp_path / "s")
    assert "another size or orientation (IM0025)" in msg


def test_absurd_declared_size_refused_before_allocating(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    path = write_enhanced_ct(tmp_path / "big.dcm")
    edit(path, NumberOfFrames=3_000_000, Rows=4096, Columns=4096)
    import bonecover.io.ct_loader as ct_loader

    def no_pixels(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("pixel data read despite an absurd declared size")

    monkeypatch.setattr(ct_loader, "read_dataset", no_pixels)
    msg = _raises("is beyond what bonecover accepts", load_ct, path)
    assert "4096 x 4096 x 3000000" in msg
    msg = _raises("is beyond what bonecover accepts", load_ct, tmp_path)
    assert any("absurd" in p for p in discover(tmp_path).series[0].problems)


def test_conflicting_duplicates_are_an_error(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "s")
    shutil.copy(paths[10], tmp_path / "s" / "other")
    edit(tmp_path / "s" / "other", SOPInstanceUID="1.2.3.999", RescaleIntercept="-1000")
    _raises("two different images share the slice position", load_ct, tmp_path / "s")


def test_nan_in_nifti(tmp_path: Path) -> None:
    arr = np.zeros((4, 5, 6), dtype=np.float32)
    arr[1, 2, 3] = np.nan
    arr[2, 2, 2] = np.inf
    for name in ("v.nii.gz", "v.nii", "v.mha", "v.nrrd"):
        sitk.WriteImage(sitk.GetImageFromArray(arr), str(tmp_path / name))
        _raises(r"2 voxel\(s\) are NaN or infinite", load_ct, tmp_path / name)


def test_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "broken.nii.gz").write_bytes(b"this is not a nifti file" * 10)
    _raises("cannot read this nifti file", load_ct, tmp_path / "broken.nii.gz")
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(bytes(128) + b"DICM" + b"\xff" * 300)
    _raises("bad.dcm: unreadable DICOM header", load_ct, bad)
    (tmp_path / "d").mkdir()
    shutil.copy(bad, tmp_path / "d" / "bad.dcm")
    _raises("no CT volume series", load_ct, tmp_path / "d")


def test_four_d_research_volume(tmp_path: Path) -> None:
    img = sitk.GetImageFromArray(np.zeros((2, 3, 4, 5), dtype=np.int16), isVector=False)
    sitk.WriteImage(img, str(tmp_path / "v.nii"))
    _raises("4-D image", load_ct, tmp_path / "v.nii")


def test_unknown_series_uid(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "s")
    _raises(r"series 9\.9\.9 is not in .*bonecover inspect", load_ct, tmp_path, series_uid="9.9.9")


def test_radiograph_without_spacing(tmp_path: Path) -> None:
    write_radiograph(tmp_path / "dx.dcm", spacing_tag="")
    _raises("has no pixel spacing", load_radiograph, tmp_path / "dx.dcm")


def test_no_dicom_hints_at_archives(tmp_path: Path) -> None:
    (tmp_path / "export.zip").write_bytes(b"PK\x03\x04" + bytes(100))
    _raises(r"unpack the archive\(s\) export.zip first", load_ct, tmp_path)


def test_absurd_nifti_header_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "v.nii"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 5, 6), dtype=np.int16)), str(path))
    data = bytearray(path.read_bytes())
    data[42:48] = np.array([30000, 30000, 30000], dtype="<i2").tobytes()  # dim[1..3]
    path.write_bytes(bytes(data))
    msg = _raises("is beyond what bonecover accepts", load_ct, path)
    assert "(30000, 30000, 30000)" in msg
