"""`bonecover inspect`: the listing, the JSON, and exit code 2 with one-line messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from _dicom_factory import StackSpec, edit, write_ct_series, write_radiograph
from test_io_discovery import _mixed_folder
from typer.testing import CliRunner


@pytest.fixture(scope="module")
def cli():  # noqa: ANN201
    from bonecover.cli import app

    runner = CliRunner()

    def run(*args: str):  # noqa: ANN202
        return runner.invoke(app, ["inspect", *args], catch_exceptions=False)

    return run


def _error_line(result) -> str:  # noqa: ANN001
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("bonecover: error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_mixed_folder_table_names_the_choice(cli, tmp_path: Path) -> None:  # noqa: ANN001
    for sub in ("SR", "SC", "XR"):
        (tmp_path / "DICOM" / sub).mkdir(parents=True)
    root = _mixed_folder(tmp_path)
    result = cli(str(root))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for text in (
        "ct volume",
        "localizer",
        "radiograph",
        "structured report",
        "secondary capture",
        "FOOT 1.0 BONE",
        "FOOT 3.0 SOFT",
        "Topogram 0.6",
        "DICOMDIR (directory index",
    ):
        assert text in out, text
    (choice_line,) = [ln for ln in out.splitlines() if ln.startswith("compare would analyse:")]
    assert "1.2.826.0.1.1" in choice_line and "FOOT 1.0 BONE" in choice_line
    assert "SYNTH" not in out and "PHANTOM" not in out
    assert "0.75x0.8x1" in out or "0.8x0.75x1" in out  # spacing column


def test_json_output(cli, tmp_path: Path) -> None:  # noqa: ANN001
    for sub in ("SR", "SC", "XR"):
        (tmp_path / "DICOM" / sub).mkdir(parents=True)
    root = _mixed_folder(tmp_path)
    result = cli(str(root), "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema"] == "bonecover.inspect/1"
    assert data["chosen"]["key"] == "1.2.826.0.1.1" and data["chosen"]["modality"] == "CT"
    kinds = sorted(s["kind"] for s in data["series"])
    assert kinds == [
        "ct_volume",
        "ct_volume",
        "localizer",
        "radiograph",
        "secondary_capture",
        "structured_report",
    ]
    assert all("patient" not in s for s in data["series"])
    with_patient = json.loads(cli(str(root), "--json", "--show-patient").stdout)
    assert with_patient["series"][0]["patient"]["id"] == "SYNTH-0001"


def test_series_option_and_research_volume(cli, tmp_path: Path) -> None:  # noqa: ANN001
    write_ct_series(tmp_path / "a", series_uid="1.2.3.1")
    write_ct_series(
        tmp_path / "b",
        StackSpec(normal_positions=tuple(np.arange(0, 20, 2.0))),
        series_uid="1.2.3.2",
    )
    data = json.loads(cli(str(tmp_path), "--json", "--series", "1.2.3.2").stdout)
    assert data["chosen"]["key"] == "1.2.3.2"
    from bonecover.io import load_ct

    sitk.WriteImage(load_ct(tmp_path / "a").volume.to_sitk(), str(tmp_path / "v.nrrd"))
    result = cli(str(tmp_path / "v.nrrd"))
    assert result.exit_code == 0 and "nrrd volume, 49 slices of 40x44" in result.stdout


def test_radiograph_only_folder_chooses_it(cli, tmp_path: Path) -> None:  # noqa: ANN001
    write_radiograph(tmp_path / "dx.dcm")
    data = json.loads(cli(str(tmp_path), "--json").stdout)
    assert data["chosen"]["modality"] == "DX"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "does not exist"),
        ("empty", "is an empty folder"),
        ("junk", "no DICOM files in"),
        ("sr_only", "no CT volume series and no radiograph"),
        ("bad_series", "series 9.9 is not in"),
        ("nan_nifti", "NaN or infinite"),
    ],
)
def test_bad_input_exit_code_2_one_line(cli, tmp_path: Path, case: str, expected: str) -> None:  # noqa: ANN001
    from _dicom_factory import write_structured_report

    target = tmp_path / "in"
    args: list[str] = []
    if case == "empty":
        target.mkdir()
    elif case == "junk":
        target.mkdir()
        (target / "a.txt").write_text("hello")
    elif case == "sr_only":
        target.mkdir()
        write_structured_report(target / "sr.dcm")
    elif case == "bad_series":
        write_ct_series(target)
        args = ["--series", "9.9"]
    elif case == "nan_nifti":
        arr = np.full((3, 4, 5), np.nan, dtype=np.float32)
        target = tmp_path / "v.nii.gz"
        sitk.WriteImage(sitk.GetImageFromArray(arr), str(target))
    result = cli(str(target), *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert expected in _error_line(result)


def test_problems_column_shows_header_problems(cli, tmp_path: Path) -> None:  # noqa: ANN001
    paths = write_ct_series(tmp_path / "s")
    edit(paths[4], ImagePositionPatient=None)
    result = cli(str(tmp_path))
    assert result.exit_code == 0
    assert "missing geometry tags" in result.stdout


@pytest.mark.realdata
def test_real_data_tree(cli, shared_data: Path) -> None:  # noqa: ANN001
    """The shared real data: GE (tilted), Philips (with DIRFILE), an MR slice x9 syntaxes, and the
    real foot CT (150 slices, when present)."""
    result = cli(str(shared_data), "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    by_kind: dict[str, list[dict]] = {}
    for s in data["series"]:
        by_kind.setdefault(s["kind"], []).append(s)
    feet = [150] if (shared_data / "vhf_feet").is_dir() else []
    assert sorted(s["n_slices"] for s in by_kind["ct_volume"]) == [28, 28, *feet]
    assert [s["modality"] for s in by_kind["other"]] == ["MR"]
    assert any(k["path"].endswith("DIRFILE") for k in data["skipped"])
    ge = next(s for s in by_kind["ct_volume"] if s["manufacturer"].upper().startswith("GE"))
    assert ge["gantry_tilt_deg"] == pytest.approx(18.5, abs=0.05)
    assert data["chosen"]["modality"] == "CT"


def _build(case: str, root: Path) -> Path:
    """Create the bad input ``case`` under ``root``; return the path to inspect."""
    from _dicom_factory import write_enhanced_ct

    folder = root / "s"
    if case == "truncated_middle":
        paths = write_ct_series(folder)
        data = paths[20].read_bytes()
        paths[20].write_bytes(data[:-1000])
    elif case == "corrupt_header":
        paths = write_ct_series(folder)
        data = bytearray(paths[20].read_bytes())
        data[140:400] = b"\xff" * 260
        paths[20].write_bytes(bytes(data))
    elif case == "missing_geometry":
        paths = write_ct_series(folder)
        edit(paths[7], ImageOrientationPatient=None)
    elif case == "mixed_spacing":
        paths = write_ct_series(folder)
        edit(paths[11], PixelSpacing=["0.9", "0.9"])
    elif case == "one_slice":
        write_ct_series(folder, StackSpec(normal_positions=(0.0,)))
    elif case == "rows_mismatch":
        for p in write_ct_series(folder):
            edit(p, Rows=41)
    elif case == "absurd_size":
        folder.mkdir()
        edit(write_enhanced_ct(folder / "e.dcm"), NumberOfFrames=3_000_000, Rows=4096, Columns=4096)
    elif case == "unreadable":
        folder.mkdir()
        (folder / "bad.dcm").write_bytes(bytes(128) + b"DICM" + b"\xff" * 300)
        return folder / "bad.dcm"
    elif case == "no_spacing_radiograph":
        folder.mkdir()
        write_radiograph(folder / "dx.dcm", spacing_tag="")
    return folder


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("truncated_middle", "damaged file(s) IM0020 (pixel data holds"),
        ("corrupt_header", "1 unreadable file(s) were skipped (IM0020)"),
        ("missing_geometry", "IM0007 lacks geometry tag(s) ImageOrientationPatient"),
        ("mixed_spacing", "pixel spacing differs within the series"),
        ("one_slice", "has a single slice"),
        ("rows_mismatch", "header declares 41 rows x 44 columns"),
        ("absurd_size", "4096 x 4096 x 3000000 frames"),
        ("unreadable", "1 unreadable file(s) (bad.dcm: unreadable DICOM header"),
        ("no_spacing_radiograph", "the radiograph has no pixel spacing"),
    ],
)
def test_check_bad_series_exit_code_2(cli, tmp_path: Path, case: str, expected: str) -> None:  # noqa: ANN001
    target = _build(case, tmp_path)
    result = cli(str(target), "--check")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert expected in _error_line(result)
    data = (
        json.loads(cli(str(target), "--check", "--json").stdout or "{}")
        if case != "unreadable"
        else {}
    )
    if data:
        assert data["check"]["ok"] is False and expected in data["check"]["error"]


def test_check_reports_warnings_and_allow_gaps(cli, tmp_path: Path) -> None:  # noqa: ANN001
    paths = write_ct_series(tmp_path / "s")
    paths[-1].write_bytes(paths[-1].read_bytes()[:-1000])  # damaged end slice: skipped
    result = cli(str(tmp_path), "--check")
    assert result.exit_code == 0, result.stderr
    assert "check: loaded 48 slices of 40x44" in result.stdout
    assert "warning: " in result.stdout and "skipped 1 damaged file(s): IM0048" in result.stdout
    paths[30].unlink()
    assert cli(str(tmp_path), "--check").exit_code == 2
    result = cli(str(tmp_path), "--check", "--allow-gaps", "--json")
    assert result.exit_code == 0, result.stderr
    check = json.loads(result.stdout)["check"]
    assert check["ok"] and check["resampled"] is True and check["shape"][0] == 48
    assert any("interpolated" in w for w in check["warnings"])
