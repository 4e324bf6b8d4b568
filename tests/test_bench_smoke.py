"""The benchmark suite's own arithmetic (bench/): direction conventions, fits, sections.

No phantom, no timing, no benchmark extras (itk-elastix, dcm2niix): only the helpers
whose mistakes would make the published numbers wrong.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import bench_compare  # noqa: E402
import bench_registration  # noqa: E402
from _markdown import replace_section  # noqa: E402

from bonecover.register import MIRROR  # noqa: E402
from bonecover.volume import Volume, affine_from_geometry  # noqa: E402


def test_itk_transform_converted_to_healthy_to_affected() -> None:
    """An ITK transform maps fixed (affected) -> moving (mirrored healthy) points; the bench inverts it."""
    rng = np.random.default_rng(3)
    euler = sitk.Euler3DTransform((10.0, -5.0, 20.0), 0.1, -0.2, 0.3, (4.0, -7.0, 2.5))
    fixed_to_moving = bench_registration.fit_affine(euler.TransformPoint, rng.uniform(-50, 50, (12, 3)))
    est = bench_registration.healthy_to_affected({"fixed_to_moving": fixed_to_moving.tolist()})[0]
    healthy = rng.uniform(-40, 40, (5, 3))
    for p in healthy:
        affected = (est @ np.append(p, 1.0))[:3]
        # the affected point, carried by the ITK transform, lands on the mirrored healthy point
        assert np.allclose(euler.TransformPoint(affected.tolist()), MIRROR[:3, :3] @ p, atol=1e-6)
    assert np.linalg.det(est[:3, :3]) == pytest.approx(-1.0)
    errors = bench_registration.tre(est, est, {"a": [1.0, 2.0, 3.0]}, ("a",))
    assert errors == {"a": pytest.approx(0.0)}


def test_fit_affine_refuses_a_non_affine_transform() -> None:
    with pytest.raises(RuntimeError, match="not affine"):
        bench_registration.fit_affine(lambda p: [v**2 for v in p], np.random.default_rng(0).uniform(1, 9, (10, 3)))


def test_proper_orientation_keeps_voxels_in_place() -> None:
    rng = np.random.default_rng(1)
    direction = np.array([[-1.0, 0, 0], [0, 1, 0], [0, 0, -1]])
    vol = Volume(rng.integers(0, 100, (4, 5, 6)).astype(np.int16),
                 affine_from_geometry((10.0, 20.0, 30.0), (0.5, 0.6, 0.7), direction))
    out = bench_registration.proper_orientation(vol)
    assert np.allclose(out.direction, np.eye(3))
    ijk = np.argwhere(np.ones(vol.shape, bool))[:, ::-1].astype(float)
    world = vol.index_to_world(ijk)
    back = np.rint(out.world_to_index(world)).astype(int)
    assert np.array_equal(out.array[back[:, 2], back[:, 1], back[:, 0]], vol.array[tuple(ijk[:, ::-1].astype(int).T)])


def test_scaling_exponent() -> None:
    voxels = [1e6, 2e6, 4e6, 8e6]
    assert bench_compare.fit_exponent(voxels, [0.5 * (v / 1e6) ** 1.0 for v in voxels]) == pytest.approx(1.0)
    assert bench_compare.fit_exponent(voxels, [3.0 * (v / 1e6) ** 1.5 for v in voxels]) == pytest.approx(1.5)


def test_replace_section_leaves_other_sections(tmp_path: Path) -> None:
    path = tmp_path / "B.md"
    path.write_text("# Benchmarks\n\n## A\n\nold a\n\n## B\n\nkeep b\n")
    replace_section("A", "new a", path)
    replace_section("C", "new c", path)
    text = path.read_text()
    assert "old a" not in text and "new a" in text and "keep b" in text
    assert text.index("## A") < text.index("## B") < text.index("## C")
