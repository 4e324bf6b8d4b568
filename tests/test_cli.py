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
