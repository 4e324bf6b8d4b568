"""Header-only discovery: grouping, splitting, classification, choice and privacy."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _dicom_factory import (
    StackSpec,
    edit,
    write_ct_series,
    write_dicomdir_like,
    write_enhanced_ct,
    write_radiograph,
    write_secondary_capture,
    write_structured_report,
)

from bonecover.io import SeriesKind, discover


def _mixed_folder(root: Path) -> Path:
    """A CD-export-like folder: 2 reconstructions, scout, radiograph, SR, SC, DICOMDIR, junk."""
    write_ct_series(root / "DICOM" / "S1", description="FOOT 1.0 BONE", series_uid="1.2.826.0.1.1")
    write_ct_series(
        root / "DICOM" / "S2",
        StackSpec(normal_positions=tuple(np.arange(-24.0, 24.1, 3.0))),
        description="FOOT 3.0 SOFT",
        series_uid="1.2.826.0.1.2",
    )
    write_ct_series(
        root / "DICOM" / "S0",
        StackSpec(normal_positions=(0.0,), iop=(1, 0, 0, 0, 0, -1)),
        description="Topogram 0.6",
        image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
        series_uid="1.2.826.0.1.0",
    )
    write_radiograph(root / "DICOM" / "XR" / "IMG1")
    write_structured_report(root / "DICOM" / "SR" / "dose.dcm")
    write_secondary_capture(root / "DICOM" / "SC" / "screen.dcm")
    write_dicomdir_like(root / "DICOMDIR")
    (root / "README.TXT").write_text("Patient CD\n")
    (root / "autorun.inf").write_text("[autorun]\n")
    (root / "viewer").mkdir()
    (root / "viewer" / "viewer.exe").write_bytes(b"MZ" + bytes(300))
    return root


def test_mixed_folder_classified(tmp_path: Path) -> None:
    for sub in ("SR", "SC", "XR"):
        (tmp_path / "DICOM" / sub).mkdir(parents=True)
    inv = discover(_mixed_folder(tmp_path))
    kinds = {s.description or s.modality: s.kind for s in inv.series}
    assert kinds == {
        "FOOT 1.0 BONE": SeriesKind.CT_VOLUME,
        "FOOT 3.0 SOFT": SeriesKind.CT_VOLUME,
        "Topogram 0.6": SeriesKind.LOCALIZER,
        "Foot DP": SeriesKind.RADIOGRAPH,
        "SR": SeriesKind.STRUCTURED_REPORT,
        "OT": SeriesKind.SECONDARY_CAPTURE,
    }
    assert [s.path.name for s in inv.skipped] == ["DICOMDIR"]
    assert inv.n_non_dicom == 3
    choice = inv.choose()
    assert choice.series.series_uid == "1.2.826.0.1.1" and choice.modality == "CT"
    assert "most slices (49 vs 17)" in choice.reason
    assert inv.choose(modality="DX").series.kind == SeriesKind.RADIOGRAPH
    assert inv.choose("1.2.826.0.1.2").series.description == "FOOT 3.0 SOFT"
    with pytest.raises(Exception, match="is a localizer"):
        inv.choose("1.2.826.0.1.0")


def test_dose_screen_saved_as_ct_is_not_a_volume(tmp_path: Path) -> None:
    write_ct_series(
        tmp_path / "dose",
        StackSpec(normal_positions=(0.0,)),
        description="Dose Report",
        image_type=("DERIVED", "SECONDARY", "OTHER"),
    )
    write_ct_series(tmp_path / "foot")
    inv = discover(tmp_path)
    kinds = sorted(s.kind for s in inv.series)
    assert kinds == [SeriesKind.CT_VOLUME, SeriesKind.OTHER]


def test_thinnest_reconstruction_wins_a_tie_on_slices(tmp_path: Path) -> None:
    write_ct_series(
        tmp_path / "a",
        StackSpec(normal_positions=tuple(np.arange(20) * 1.0)),
        description="FOOT 1.0",
    )
    write_ct_series(
        tmp_path / "b",
        StackSpec(normal_positions=tuple(np.arange(20) * 0.5)),
        description="FOOT 0.5",
    )
    choice = discover(tmp_path).choose()
    assert choice.series.description == "FOOT 0.5"
    assert "thinnest reconstruction (0.50 vs 1.00 mm)" in choice.reason


def test_foot_series_preferred_over_longer_other(tmp_path: Path) -> None:
    write_ct_series(
        tmp_path / "a",
        StackSpec(normal_positions=tuple(np.arange(60.0))),
        description="KNEE",
        body_part="KNEE",
    )
    write_ct_series(tmp_path / "b", description="Fuss re 1mm", body_part="EXTREMITY")
    choice = discover(tmp_path).choose()
    assert choice.series.description == "Fuss re 1mm"
    assert "names the foot" in choice.reason


def test_series_mixing_orientations_is_split(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "s", series_uid="1.2.3.77", study_uid="1.2.3")
    write_ct_series(
        tmp_path / "s" / "sag",
        StackSpec(iop=(0, 1, 0, 0, 0, -1), normal_positions=tuple(np.arange(10.0))),
        series_uid="1.2.3.77",
        study_uid="1.2.3",
        names=[f"sag{n}" for n in range(10)],
    )
    inv = discover(tmp_path)
    keys = sorted(s.key for s in inv.series)
    assert keys == ["1.2.3.77", "1.2.3.77#2"]
    assert inv.get("1.2.3.77").n_slices == 49 and inv.get("1.2.3.77#2").n_slices == 10
    assert all(any("split into 2 parts" in p for p in s.problems) for s in inv.series)


def test_overlapping_acquisitions_are_split(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "s", series_uid="1.2.3.88")
    for p in paths:
        edit(p, AcquisitionNumber=1)
    for p in paths[:10]:
        q = p.with_name(p.name + "_acq2")
        shutil.copy(p, q)
        edit(q, AcquisitionNumber=2, SOPInstanceUID=pydicom.uid.generate_uid())
    inv = discover(tmp_path)
    assert sorted(s.n_slices for s in inv.series) == [10, 49]


def test_problems_reported_from_headers(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "s")
    paths[30].unlink()
    (entry,) = discover(tmp_path / "s").series
    assert any(p.startswith("gap: 2.00 mm gap") for p in entry.problems)


def test_enhanced_file_is_one_series_with_frames(tmp_path: Path) -> None:
    write_enhanced_ct(tmp_path / "e.dcm")
    (entry,) = discover(tmp_path).series
    assert entry.kind == SeriesKind.CT_VOLUME and entry.n_slices == 49 and len(entry.files) == 1
    assert entry.slice_step_mm == pytest.approx(1.0)


def test_header_scan_never_reads_pixel_data(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    write_ct_series(tmp_path / "s")
    write_radiograph(tmp_path / "dx.dcm")
    calls: list[dict] = []
    real = pydicom.dcmread

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", spy)
    monkeypatch.setattr(
        pydicom.dataset.Dataset,
        "pixel_array",
        property(lambda self: (_ for _ in ()).throw(AssertionError("pixels decoded"))),
    )
    inv = discover(tmp_path)
    assert len(inv.series) == 2
    assert len(calls) == 50 and all(c.get("stop_before_pixels") is True for c in calls)


def test_patient_identifiers_never_logged(tmp_path: Path, caplog) -> None:  # noqa: ANN001
    from bonecover.io import load_ct

    write_ct_series(tmp_path / "s")
    with caplog.at_level(logging.DEBUG, logger="bonecover"):
        inv = discover(tmp_path)
        ct = load_ct(tmp_path)
    text = caplog.text + repr(inv) + repr(ct)
    assert "SYNTH" not in text and "PHANTOM" not in text and "19000101" not in text
    assert inv.series[0].patient.patient_id == "SYNTH-0001"
    assert "patient" not in inv.series[0].to_dict()
    assert inv.series[0].to_dict(include_patient=True)["patient"]["id"] == "SYNTH-0001"


def test_real_philips_dirfile_skipped_from_headers(fixtures_dir: Path) -> None:
    inv = discover(fixtures_dir / "dcm_qa_ct_headers" / "Philips_phantom_notilt_with_DIRFILE")
    (entry,) = inv.series
    assert entry.kind == SeriesKind.CT_VOLUME and entry.n_slices == 4
    assert entry.description == "STD BRAIN 5MM"
    assert [(s.path.name, s.reason) for s in inv.skipped] == [
        ("DIRFILE", "DICOMDIR (directory index, no image)")
    ]


def test_files_without_preamble_or_meta(tmp_path: Path) -> None:
    """Old exports: no 128-byte preamble, no file meta, implicit VR little endian."""
    from bonecover.io import load_ct

    paths = write_ct_series(tmp_path / "s")
    ref = load_ct(tmp_path / "s").volume
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.preamble = None
        del ds.file_meta
        pydicom.dcmwrite(p, ds, implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert paths[0].read_bytes()[:2] == b"\x08\x00"
    (entry,) = discover(tmp_path / "s").series
    assert entry.n_slices == 49
    vol = load_ct(tmp_path / "s").volume
    np.testing.assert_array_equal(vol.array, ref.array)
    np.testing.assert_allclose(vol.affine, ref.affine)


def test_dicomdir_path_scans_its_folder(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "DICOM" / "S1")
    write_dicomdir_like(tmp_path / "DICOMDIR")
    inv = discover(tmp_path / "DICOMDIR")
    assert inv.root == tmp_path and len(inv.series) == 1
