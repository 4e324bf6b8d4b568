"""Comparison figures (issue 5): files, PNG properties, geometry of the sampling, the
renderer's known answers, and the command line's figure options."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bonecover.cli import app
from bonecover.errors import InputError
from bonecover.figures import FIGURES
from bonecover.figures._common import Grid, patient_direction_letter, resample_to_grid, sample_points
from bonecover.figures.distribution import cumulative_area_percent
from bonecover.figures.slices import focus_point
from bonecover.figures.thickness_maps import render_points
from bonecover.io.report_write import write_figures
from bonecover.volume import Volume, affine_from_geometry

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_info(data: bytes) -> dict:
    """Width, height and dots per inch (from pHYs) of a PNG, checking every chunk's CRC."""
    assert data[:8] == PNG_SIGNATURE
    pos, info = 8, {}
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        if kind == b"IHDR":
            info["width"], info["height"] = struct.unpack(">II", body[:8])
        elif kind == b"pHYs":
            ppu_x, ppu_y, unit = struct.unpack(">IIB", body)
            assert unit == 1  # metres
            info["dpi"] = min(ppu_x, ppu_y) * 0.0254
        pos += 12 + length
        if kind == b"IEND":
            break
    return info


@pytest.mark.slow
def test_every_figure_is_a_valid_png(figure_run) -> None:  # noqa: ANN001
    out, doc, seconds = figure_run
    names = [f"figures/{name}" for name, _, _ in FIGURES]
    assert doc["figures"] == names
    assert json.loads((out / "report.json").read_text())["figures"] == names  # listed in report.json
    for rel in names:
        data = (out / rel).read_bytes()
        info = png_info(data)
        assert info["width"] >= 1200 and info["height"] >= 700, (rel, info)
        assert info["dpi"] >= 150 - 0.5, (rel, info)
        assert 30_000 < len(data) < 3_000_000, (rel, len(data))
    assert (out / "report.html").is_file()
    assert seconds < 60  # generous: 2 shared cores; bench/bench_figures.py measures the real time


def test_figure_files_are_never_overwritten(tmp_path: Path) -> None:
    write_figures([("figures/a.png", b"first")], tmp_path)
    with pytest.raises(InputError, match="already exists"):
        write_figures([("figures/a.png", b"second")], tmp_path)
    assert (tmp_path / "figures" / "a.png").read_bytes() == b"first"
    assert not [p for p in (tmp_path / "figures").iterdir() if p.name.startswith(".")]  # no temp file left


def _point_volume(direction: np.ndarray, origin: tuple[float, float, float]) -> tuple[Volume, np.ndarray]:
    """A 20^3 volume at 1 mm with one bright voxel; returns it and the voxel's LPS position."""
    arr = np.zeros((20, 20, 20), np.float32)
    arr[3, 5, 11] = 1000.0  # k, j, i
    vol = Volume(arr, affine_from_geometry(origin, (1.0, 1.0, 1.0), direction))
    return vol, vol.index_to_world(np.array([[11.0, 5.0, 3.0]]))[0]


@pytest.mark.parametrize("direction", [np.eye(3), np.diag([1.0, 1.0, -1.0]), np.diag([-1.0, -1.0, 1.0]),
                                       np.array([[0, 1.0, 0], [1.0, 0, 0], [0, 0, -1.0]])])
def test_resampling_keeps_patient_geometry(direction: np.ndarray) -> None:
    """Whatever the volume's direction (FFS, HFS, swapped axes), a voxel lands at its LPS place."""
    vol, where = _point_volume(direction, (-30.0, 12.0, 50.0))
    lo, hi = vol.bounds_mm()
    grid = Grid.around(lo, hi, 1.0)
    out = resample_to_grid(vol, grid, default=0.0)
    k, j, i = np.unravel_index(np.argmax(out), out.shape)
    assert np.allclose(grid.origin_mm + grid.spacing_mm * np.array([i, j, k]), where)
    assert sample_points(vol, where[None], default=0.0)[0] == pytest.approx(1000.0)
    # healthy -> affected mirror (x -> -x) plus a shift: the voxel appears at its mapped place
    mirror = np.diag([-1.0, 1.0, 1.0, 1.0])
    mirror[:3, 3] = (4.0, -2.0, 1.0)
    mapped = mirror[:3, :3] @ where + mirror[:3, 3]
    grid2 = Grid.around(mapped - 5, mapped + 5, 1.0)
    out2 = resample_to_grid(vol, grid2, transform=mirror, default=0.0)
    k, j, i = np.unravel_index(np.argmax(out2), out2.shape)
    assert np.allclose(grid2.origin_mm + grid2.spacing_mm * np.array([i, j, k]), mapped)
    assert sample_points(vol, mapped[None], transform=mirror, default=0.0)[0] == pytest.approx(1000.0)


def test_patient_direction_letters() -> None:
    assert patient_direction_letter(np.array([1.0, 0, 0])) == "L"
    assert patient_direction_letter(np.array([0, -1.0, 0])) == "A"
    assert patient_direction_letter(np.array([0, -0.8, -0.6])) == "AI"
    assert patient_direction_letter(np.array([-0.1, 0, 0.99])) == "S"


def test_render_points_sphere() -> None:
    """A unit-density sphere of radius 10 mm renders as a disc of that radius, lit in its centre."""
    rng = np.random.default_rng(4)
    n = rng.normal(size=(60_000, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    pts = 10.0 * n
    rgb = np.tile([0.2, 0.6, 0.4], (len(pts), 1))
    stripe = pts[:, 0] > 5.0  # the right cap "exposed"
    img = render_points(pts, n, rgb, np.array([0, 0, 1.0]), np.array([0, 1.0, 0]), (-12, 12, -12, 12), 0.25, stripe)
    drawn = np.any(img < 0.999, axis=2)
    radius = np.sqrt(drawn.sum() * 0.25**2 / np.pi)
    assert radius == pytest.approx(10.0, abs=0.3)
    centre = img[48, 48]
    assert np.allclose(centre, [0.2, 0.6, 0.4], atol=0.03)  # facing the viewer: full colour
    right_cap = img[40:56, 85:90].reshape(-1, 3)
    magenta = np.all(np.abs(right_cap - [1.0, 0.17, 0.84]) < 0.35, axis=1)
    assert magenta.any() and not magenta.all()  # stripes


def test_cumulative_area_percent() -> None:
    t = np.array([0.5, 1.5, 2.5, 3.5])
    a = np.array([1.0, 1.0, 2.0, 4.0])
    assert cumulative_area_percent(t, a, np.array([0.0, 1.0, 3.0, 9.0])).tolist() == [0.0, 12.5, 50.0, 100.0]


def test_focus_point_is_under_the_exposed_bone() -> None:
    pts = np.array([[0, 0, 0], [10, 0, 0], [10, 1, 0], [20, 0, 0.0]])
    normals = np.tile([0, 0, 1.0], (4, 1))
    q, what = focus_point(pts, normals, np.ones(4), np.array([3.0, 0.2, 0.4, 3.0]), 1.0)
    assert "exposed" in what
    assert q[0] == pytest.approx(10.0) and q[2] == pytest.approx(-2.0)  # 2 mm inside, below the wound
    q, what = focus_point(pts, normals, np.ones(4), np.array([3.0, 2.0, 2.5, 3.0]), 1.0)
    assert "thinnest" in what and q[0] == pytest.approx(10.0)


# ----------------------------------------------------------------------------- command line
@pytest.fixture()
def cached_compare(report_bilateral, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    """``bonecover compare`` answering with the session's Report instead of recomputing it."""
    import bonecover.pipeline

    monkeypatch.setattr(bonecover.pipeline, "compare", lambda *a, **k: report_bilateral)
    return report_bilateral


def _cli(out: Path, *extra: str):  # noqa: ANN202
    return runner.invoke(app, ["compare", "unused", "--out", str(out), "--affected-side", "right", "--quiet",
                               *extra])


def test_cli_no_figures(cached_compare, tmp_path: Path) -> None:  # noqa: ANN001
    result = _cli(tmp_path / "r", "--no-figures")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["report.json"]
    assert json.loads((tmp_path / "r" / "report.json").read_text())["figures"] == []


@pytest.mark.slow
def test_cli_patient_identifiers_only_on_request(cached_compare, figure_run, tmp_path: Path) -> None:  # noqa: ANN001
    name = "PHANTOM^BONECOVER^SEED31"
    plain, _, _ = figure_run  # what compare writes without --include-phi
    assert name not in (plain / "report.html").read_text() and name not in (plain / "report.json").read_text()
    result = _cli(tmp_path / "phi", "--include-phi")
    assert result.exit_code == 0, result.output
    assert name in (tmp_path / "phi" / "report.html").read_text()
    assert name not in (tmp_path / "phi" / "report.json").read_text()


def test_cli_figure_bug_keeps_the_numbers(cached_compare, tmp_path: Path,  # noqa: ANN001
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import bonecover.figures

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise ZeroDivisionError("drawing went wrong")

    monkeypatch.setattr(bonecover.figures, "draw_figures", broken)
    result = _cli(tmp_path / "r")
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.startswith("bonecover: error:")]
    assert len(lines) == 1 and "figures could not be drawn" in lines[0] and "report.json was written" in lines[0]
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    assert doc["affected"]["covered_fraction"] == cached_compare.document["affected"]["covered_fraction"]
    assert doc["figures"] == [] and any("figures could not be drawn" in w for w in doc["warnings"])
    assert (tmp_path / "r" / "report.html").is_file()  # the numbers, without figures
