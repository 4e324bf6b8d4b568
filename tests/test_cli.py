"""Command-line surface: version, help on every command, clear errors with exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bonecover import __version__
from bonecover.cli import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


@pytest.mark.parametrize("command", ["phantom", "demo", "inspect"])
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and len(result.output) > 200


def test_top_level_help_documents_exit_codes() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "Exit codes" in result.output


def test_phantom_refuses_a_non_empty_output_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("precious")
    result = runner.invoke(app, ["phantom", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "not empty" in result.output
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_phantom_dx_bad_option_is_refused_clearly(tmp_path: Path) -> None:
    # the radiograph phantom itself is tested in test_radiograph_pipeline.py
    result = runner.invoke(app, ["phantom", "--out", str(tmp_path / "x"), "--modality", "dx", "--pixel-mm", "5"])
    assert result.exit_code == 2
    assert "pixel_mm" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_bad_option_value_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["phantom", "--out", str(tmp_path / "x"), "--defect", "huge"])
    assert result.exit_code == 2


def test_python_dash_m_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "bonecover", "--version"], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"bonecover {__version__}"


@pytest.mark.slow
def test_demo_runs_the_whole_job_and_matches_its_truth(tmp_path: Path) -> None:
    """Quickstart 1: phantom, comparison, report.json, figures and report.html; numbers near the truth."""
    import json

    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "report.json").read_text())
    truth = json.loads((out / "phantom" / "truth.json").read_text())
    assert doc["registration"]["qa"] == "pass"
    a, t = doc["affected"], truth["affected"]
    assert abs(a["covered_fraction"] - t["covered_fraction"]) <= 0.03
    assert abs(a["exposed_area_mm2"] - t["exposed_area_mm2"]) <= max(0.15 * t["exposed_area_mm2"], 15.0)
    assert abs(a["thickness_mm"]["mean"] - t["thickness_mm"]["mean"]) <= max(0.3, 0.1 * t["thickness_mm"]["mean"])
    assert doc["figures"] and all((out / f).stat().st_size > 10_000 for f in doc["figures"])
    assert "<html" in (out / "report.html").read_text()[:500].lower()
    assert "measured" in result.output and "truth" in result.output
