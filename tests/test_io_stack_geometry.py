"""Slice ordering, gaps, duplicates, tilt and resampling of a slice stack (known answers)."""

from __future__ import annotations

import numpy as np
import pytest

from bonecover.io.dicom_discovery import discover
from bonecover.io.stack_geometry import analyse_stack, resample_stack

AXIAL = np.array([1.0, 0, 0, 0, 1, 0])
SPACING = np.array([0.5, 0.5])


def _positions(t: np.ndarray, shear: float = 0.0) -> np.ndarray:
    return np.column_stack([np.zeros_like(t), shear * t, t])


def test_orders_by_position_along_normal_not_input_order() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(10, dtype=float) * 1.25
    perm = rng.permutation(10)
    geo = analyse_stack(_positions(t[perm]), AXIAL, SPACING)
    np.testing.assert_allclose(geo.normal_mm, t)
    np.testing.assert_array_equal(perm[geo.order], np.arange(10))
    assert geo.uniform and geo.regular and not geo.gaps and not geo.duplicates
    assert geo.affine()[2, 2] == pytest.approx(1.25)


def test_normal_follows_orientation_for_sagittal_stack() -> None:
    iop = np.array([0.0, 1, 0, 0, 0, -1])  # rows along +y, columns down -z: normal = -x
    t = np.arange(5) * 2.0
    pos = np.column_stack([-t, np.zeros(5), np.zeros(5)])
    geo = analyse_stack(pos[::-1], iop, SPACING)
    np.testing.assert_allclose(geo.n, [-1, 0, 0])
    np.testing.assert_allclose(geo.positions_mm[:, 0], -t)
    assert np.linalg.det(geo.affine()[:3, :3]) > 0


def test_missing_slice_is_a_gap_with_its_position() -> None:
    t = np.delete(np.arange(20) * 1.0, 7)
    geo = analyse_stack(_positions(t), AXIAL, SPACING)
    assert len(geo.gaps) == 1
    gap = geo.gaps[0]
    assert (gap.start_mm, gap.end_mm, gap.step_mm, gap.expected_mm) == pytest.approx((6, 8, 2, 1))
    assert "about 1 slice(s) missing" in gap.describe()


def test_change_between_two_regular_spacings_is_not_a_gap() -> None:
    # GE-like: 4 mm x 13, one 1.08 mm, then 7 mm x 13 (regular, not missing slices)
    steps = [4.0] * 13 + [1.08] + [7.0] * 13
    t = np.concatenate([[0.0], np.cumsum(steps)])
    geo = analyse_stack(_positions(t), AXIAL, SPACING)
    assert geo.gaps == ()
    assert not geo.uniform and not geo.regular
    # a subset across the change (few steps each side) is not a gap either
    sub = analyse_stack(_positions(t[9:19]), AXIAL, SPACING)
    assert sub.gaps == ()


def test_duplicates_found() -> None:
    t = np.array([0.0, 1, 2, 2, 3, 4])
    geo = analyse_stack(_positions(t), AXIAL, SPACING)
    assert geo.duplicates == ((2, 3),)
    assert not geo.regular or geo.duplicates


@pytest.mark.parametrize("tilt_deg", [0.0, 12.0, -18.5, 30.0])
def test_tilt_angle_from_positions(tilt_deg: float) -> None:
    t = np.arange(12) * 2.5
    geo = analyse_stack(_positions(t, np.tan(np.radians(tilt_deg))), AXIAL, SPACING)
    assert geo.tilt_deg == pytest.approx(abs(tilt_deg), abs=1e-6)
    assert geo.shifted == (tilt_deg != 0.0)


def test_resample_nonuniform_linear_ramp_known_answer() -> None:
    """HU = 10 * (normal position in mm) is reproduced exactly by linear resampling."""
    t = np.array([0.0, 1, 2, 3, 4, 5, 6, 7.4, 8.8, 10.2, 11.6, 13.0])  # 1 mm x6, 1.4 mm x5
    stack = np.broadcast_to((10 * t)[:, None, None], (t.size, 4, 5)).astype(np.float32)
    geo = analyse_stack(_positions(t), AXIAL, SPACING)
    assert geo.gaps == ()
    out, affine = resample_stack(stack, geo, fill_value=-1024)
    assert out.shape == (14, 4, 5)  # median step 1 mm -> 13 mm in 13 steps
    z = affine[2, 3] + affine[2, 2] * np.arange(out.shape[0])
    np.testing.assert_allclose(z, np.arange(14.0))
    np.testing.assert_allclose(out[:, 2, 2], 10 * z, atol=1e-4)


def test_resample_tilted_stack_places_a_point_exactly() -> None:
    """A bright pixel per slice at one world point stays at that point after resampling."""
    shear = np.tan(np.radians(20))
    t = np.arange(8) * 2.0
    pos = _positions(t, shear)  # slice origin moves +y with t
    rows, cols = 30, 10
    target_y = 6.0  # world y of the bright row in every slice
    stack = np.zeros((t.size, rows, cols), dtype=np.float32)
    for k in range(t.size):
        r = (target_y - pos[k, 1]) / 0.5
        r0 = int(np.floor(r))
        w = r - r0
        stack[k, r0, :] += 1000 * (1 - w)
        stack[k, r0 + 1, :] += 1000 * w
    geo = analyse_stack(pos, AXIAL, SPACING)
    out, affine = resample_stack(stack, geo, fill_value=0.0)
    assert out.shape[1] == rows + int(round(pos[-1, 1] / 0.5))
    # centroid of the bright row, per output slice, in world y
    j = np.arange(out.shape[1])
    profile = out[:, :, 5]
    cy = (profile * j).sum(axis=1) / profile.sum(axis=1)
    world_y = affine[1, 3] + affine[1, 1] * cy
    np.testing.assert_allclose(world_y, target_y, atol=1e-3)


def test_real_ge_headers_tilt_and_nonuniform_steps(fixtures_dir) -> None:  # noqa: ANN001
    """Headers of the GE head CT: 18.5 deg tilt, steps 4.0 x13, 1.08, 7.0 x13 mm (normal)."""
    inv = discover(fixtures_dir / "dcm_qa_ct_headers" / "GE_head_tilt18.5_nonuniform")
    (entry,) = inv.series
    assert entry.n_slices == 28
    geo = analyse_stack(
        np.array([s.position_mm for s in entry.slices]),
        np.array(entry.slices[0].orientation),
        np.array(entry.slices[0].pixel_spacing_mm),
    )
    assert geo.tilt_deg == pytest.approx(18.5, abs=0.05)
    steps = np.round(geo.steps_mm, 2)
    cos = np.cos(np.radians(18.5))
    np.testing.assert_allclose(geo.steps_mm[:13], 4.22 * cos, atol=0.01)
    np.testing.assert_allclose(geo.steps_mm[13], 1.14 * cos, atol=0.01)
    np.testing.assert_allclose(geo.steps_mm[14:], 7.38 * cos, atol=0.01)
    assert geo.gaps == () and not geo.uniform and geo.shifted, steps
    assert any("gantry tilt 18.5" in p for p in entry.problems)
    assert any("non-uniform" in p for p in entry.problems)
