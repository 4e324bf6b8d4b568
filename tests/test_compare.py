"""The comparison end to end (``bonecover compare`` and ``bonecover.pipeline.compare``)
against the phantom's exact truth, with issue 4's tolerances, and its failure modes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _tolerances import assert_side_matches_truth
from typer.testing import CliRunner

from bonecover.cli import app
from bonecover.pipeline import CompareOptions, compare

runner = CliRunner()


def assert_matches_truth(doc: dict, truth: dict) -> None:
    """Issue 4's accuracy tolerances."""
    for role in ("affected", "healthy"):
        assert_side_matches_truth(doc[role], truth[role], role)
    assert doc["comparison"]["coverage_ratio"] == pytest.approx(truth["comparison"]["coverage_ratio"], abs=0.05)
    # target registration error of the hallux transform at the hallux landmarks
    est, true = np.array(doc["registration"]["hallux_transform"]), np.array(truth["registration"]["hallux_transform"])
    for name in ("hallux_tip", "interphalangeal_joint_centre", "proximal_phalanx_base_centre"):
        p = np.array(truth["landmarks"]["healthy"][name])
        tre = np.linalg.norm((est[:3, :3] @ p + est[:3, 3]) - (true[:3, :3] @ p + true[:3, 3]))
        assert tre <= 1.0, (name, tre)
    assert np.linalg.det(est[:3, :3]) == pytest.approx(-1.0, abs=1e-6)


@pytest.mark.slow
def test_compare_bilateral_cli(phantom_bilateral, tmp_path: Path) -> None:  # noqa: ANN001
    study, folder = phantom_bilateral
    out = tmp_path / "run"
    result = runner.invoke(app, ["compare", str(folder / "ct"), "--out", str(out), "--affected-side", "right",
                                 "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "report.json").read_text())
    assert json.loads(result.stdout) == doc  # --json prints exactly the report on stdout
    assert doc["schema"] == "bonecover.report/1" and doc["modality"] == "CT"
    assert doc["affected_side"] == "right"
    assert set(doc["affected"]["regions"]) >= {"dorsal", "plantar", "medial", "lateral", "tip"}
    assert set(doc["timings_s"]) >= {"load", "split", "segment", "locate_hallux", "register", "measure"}
    assert doc["registration"]["qa"] == "pass"
    assert_matches_truth(doc, study.truth)


@pytest.mark.slow
def test_compare_separate_series_api(phantom_separate) -> None:  # noqa: ANN001
    study, folder = phantom_separate
    report = compare(folder / "ct_left", folder / "ct_right")
    doc = report.document
    assert doc["affected_side"] == "left"
    assert doc["inputs"]["affected"]["laterality"] == "L"
    assert_matches_truth(doc, study.truth)
    # the user's point in the distal phalanx finds the same hallux
    lm = study.truth["landmarks"]["affected"]
    axis = np.array(lm["hallux_tip"]) - np.array(lm["interphalangeal_joint_centre"])
    point = np.array(lm["interphalangeal_joint_centre"]) + 0.4 * axis
    forced = compare(folder / "ct_left", folder / "ct_right", CompareOptions(hallux_point_mm=tuple(point)))
    assert "--hallux-point" in forced.document["affected"]["hallux"]["found_by"]
    assert forced.document["affected"]["bone_area_mm2"] == pytest.approx(doc["affected"]["bone_area_mm2"], rel=1e-6)


def test_both_feet_without_affected_side_is_refused(phantom_bilateral, tmp_path: Path) -> None:  # noqa: ANN001
    _, folder = phantom_bilateral
    out = tmp_path / "run"
    result = runner.invoke(app, ["compare", str(folder / "ct"), "--out", str(out)])
    assert result.exit_code == 2
    assert "--affected-side" in result.output
    assert not out.exists()  # nothing written when the input is refused


def test_one_foot_alone_is_refused(phantom_separate, tmp_path: Path) -> None:  # noqa: ANN001
    _, folder = phantom_separate
    result = runner.invoke(app, ["compare", str(folder / "ct_left"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "only one foot" in result.output


def test_same_side_twice_is_refused(phantom_separate, tmp_path: Path) -> None:  # noqa: ANN001
    _, folder = phantom_separate
    result = runner.invoke(app, ["compare", str(folder / "ct_left"), str(folder / "ct_left"),
                                 "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "left" in result.output


@pytest.mark.parametrize("point", ["1,2", "a,b,c", "1;2;3"])
def test_bad_hallux_point_is_refused(point: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", str(tmp_path), "--out", str(tmp_path / "r"), "--hallux-point", point])
    assert result.exit_code == 2
    assert "--hallux-point" in result.output


def test_existing_report_is_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "report.json").write_text("{}")
    result = runner.invoke(app, ["compare", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 2
    assert (out / "report.json").read_text() == "{}"


def test_qa_failure_exits_3_with_the_report_written(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import bonecover.pipeline as pipeline

    class Failed:
        qa = "fail"
        document = {"schema": "bonecover.report/1", "affected_side": "right",
                    "affected": {"covered_fraction": 0.5, "exposed_area_mm2": 1.0, "thickness_mm": {"mean": 1.0}},
                    "healthy": {"covered_fraction": 1.0, "exposed_area_mm2": 0.0, "thickness_mm": {"mean": 2.0}},
                    "comparison": {"coverage_ratio": 0.5, "soft_tissue_deficit_ml": 1.0,
                                   "thickness_deficit_mm": {"mean": 1.0}},
                    "registration": {"qa": "fail", "residual_mm": 3.0}}

        def to_json(self) -> str:
            return json.dumps(self.document)

    monkeypatch.setattr(pipeline, "compare", lambda *a, **k: Failed())
    out = tmp_path / "run"
    # (the stand-in report has no images to draw: figures are tested in test_figures.py)
    result = runner.invoke(app, ["compare", str(tmp_path), "--out", str(out), "--affected-side", "right",
                                 "--no-figures"])
    assert result.exit_code == 3
    assert json.loads((out / "report.json").read_text())["registration"]["qa"] == "fail"


@pytest.mark.slow
def test_two_patients_are_warned_about(phantom_separate, tmp_path: Path) -> None:  # noqa: ANN001
    import pydicom

    _, folder = phantom_separate
    other = tmp_path / "other_patient"
    other.mkdir()
    for f in sorted((folder / "ct_right").iterdir()):
        ds = pydicom.dcmread(f)
        ds.PatientID = "SOMEONE-ELSE"
        ds.save_as(other / f.name)
    doc = compare(folder / "ct_left", other).document
    assert any("different patient" in w for w in doc["warnings"])
    assert "SOMEONE-ELSE" not in json.dumps(doc)  # identifiers never reach the report


def test_a_stage_that_stops_still_writes_what_was_found(phantom_separate, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """The healthy hallux not found: exit 3 and a report.json that says where and why (SPEC)."""
    import bonecover.pipeline as pipeline
    from bonecover.errors import AnalysisError

    real = pipeline.joint_profile

    def failing_on_healthy(tissues, **kwargs):  # noqa: ANN001, ANN003, ANN202
        if kwargs.get("role") == "healthy":
            raise AnalysisError("healthy (right) foot: no joint space found along the first toe")
        return real(tissues, **kwargs)

    monkeypatch.setattr(pipeline, "joint_profile", failing_on_healthy)
    _, folder = phantom_separate
    out = tmp_path / "r"
    result = runner.invoke(app, ["compare", str(folder / "ct_left"), str(folder / "ct_right"), "--out", str(out)])
    assert result.exit_code == 3, result.output
    assert "no joint space" in result.output
    doc = json.loads((out / "report.json").read_text())
    assert doc["status"] == "failed" and doc["failed_stage"] == "locate_hallux"
    assert "no joint space" in doc["reason"]
    assert "joint" in doc["affected"]["hallux"]["found_by"]
    assert "healthy" not in doc and "comparison" not in doc
