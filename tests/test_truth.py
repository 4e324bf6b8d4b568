"""Ground truth: the geometry tools it is built on, and agreement with an independent
fine voxelisation of the same phantom (a different method: occupancy grids and
Euclidean distance transforms instead of meshes and point-to-triangle distances)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import marching_cubes

from bonecover import truth as T
from bonecover.foot_model import FootModel, rotation_about
from bonecover.implicit import RoundCone, Sphere
from bonecover.phantom import PhantomConfig, sample_feet
from bonecover.surface import distance_to_mesh, enclosed_volume_mm3, surface_samples, weighted_quantile


def test_sphere_mesh_area_and_volume() -> None:
    sphere = Sphere((0.31, -0.17, 0.2), 5.0)
    verts, faces = T.implicit_mesh(sphere.sdf, np.full(3, -7.0), np.full(3, 7.0), 0.3)
    s = surface_samples(verts, faces)
    assert s.total_area_mm2 == pytest.approx(4 * np.pi * 25, rel=3e-3)
    assert enclosed_volume_mm3(verts, faces) == pytest.approx(4 / 3 * np.pi * 125, rel=3e-3)
    outward = np.einsum("ij,ij->i", s.points_mm - sphere.centre, s.normals)
    assert np.all(outward > 0)


def test_distance_to_mesh_known_answers() -> None:
    capsule = RoundCone((0.0, 0.0, 0.0), (20.0, 0.0, 0.0), 4.0, 4.0)
    verts, faces = T.implicit_mesh(capsule.sdf, np.array([-6.0, -6, -6]), np.array([26.0, 6, 6]), 0.4)
    pts = np.array([[10.0, 0, 0], [10.0, 1.5, 0], [-2.0, 0, 0], [10.0, 9.0, 0]])
    np.testing.assert_allclose(distance_to_mesh(pts, verts, faces), [4.0, 2.5, 2.0, 5.0], atol=0.02)


def test_kabsch_recovers_a_reflected_rigid_transform() -> None:
    rng = np.random.default_rng(3)
    src = rng.normal(size=(200, 3)) * 10
    m = rotation_about((0.3, -0.5, 0.8), 37.0)
    m[:3, :3] = m[:3, :3] @ np.diag([-1.0, 1.0, 1.0])
    m[:3, 3] = (12.0, -4.0, 30.0)
    dst = src @ m[:3, :3].T + m[:3, 3]
    np.testing.assert_allclose(T.kabsch(src, dst, np.ones(200), reflect=True), m, atol=1e-9)


def test_weighted_quantile_matches_repeated_samples() -> None:
    rng = np.random.default_rng(5)
    values = rng.gamma(3.0, 2.0, 4000)
    weights = rng.integers(1, 4, 4000)
    repeated = np.repeat(values, weights)
    for q in (0.05, 0.5, 0.95):
        assert weighted_quantile(values, weights.astype(float), q) == pytest.approx(np.quantile(repeated, q), abs=0.02)
    assert weighted_quantile(np.arange(101.0), np.ones(101), 0.05) == pytest.approx(5.0, abs=0.5)


def _voxel_metrics(foot: FootModel, h: float, min_cover: float = 1.0, shell: float = 5.0) -> dict[str, float]:
    """The SPEC metrics from occupancy grids at spacing h and distance transforms."""
    lo, hi = T._hallux_box(foot)
    lo, hi = lo - 14.0 + h / 3, hi + 14.0
    n = np.ceil((hi - lo) / h).astype(int)
    axes = [lo[i] + h * np.arange(n[i]) for i in range(3)]
    body, bone, hallux = (np.zeros(n, bool) for _ in range(3))
    b = 40
    for i0 in range(0, n[0], b):
        for j0 in range(0, n[1], b):
            for k0 in range(0, n[2], b):
                grid = np.meshgrid(axes[0][i0:i0 + b], axes[1][j0:j0 + b], axes[2][k0:k0 + b], indexing="ij")
                p = np.stack([g.ravel() for g in grid], 1)
                sl = (slice(i0, i0 + b), slice(j0, j0 + b), slice(k0, k0 + b))
                body[sl] = (foot.body_sdf(p) < 0).reshape(grid[0].shape)
                inside = body[sl].ravel()
                if inside.any():  # bone only inside the body
                    q = p[inside]
                    bone[sl].flat[np.flatnonzero(inside)] = foot.bone_sdf(q) < 0
                    hallux[sl].flat[np.flatnonzero(inside)] = foot.hallux_sdf(q) < 0
    depth = ndimage.distance_transform_edt(body, sampling=h)
    to_hallux = ndimage.distance_transform_edt(~hallux, sampling=h)
    verts, faces, _, _ = marching_cubes(ndimage.gaussian_filter(hallux.astype(np.float32), 0.7), 0.5,
                                        spacing=(h, h, h))
    s = surface_samples(verts + lo, faces)
    # EDT measures to the nearest outside voxel centre; the boundary is half a voxel closer
    t = np.clip(ndimage.map_coordinates(depth, ((s.points_mm - lo) / h).T, order=1) - h / 2, 0, None)
    exposed = float(s.areas_mm2[t < min_cover].sum())
    soft = body & ~bone & (to_hallux - h / 2 <= shell)
    return {
        "bone_area_mm2": s.total_area_mm2,
        "bone_volume_ml": hallux.sum() * h**3 / 1000,
        "soft_tissue_volume_ml": soft.sum() * h**3 / 1000,
        "mean": float(np.average(t, weights=s.areas_mm2)),
        "median": float(weighted_quantile(t, s.areas_mm2, 0.5)),
        "exposed_area_mm2": exposed,
        "covered_fraction": 1 - exposed / s.total_area_mm2,
    }


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "defect"), [(11, "none"), (12, "small"), (13, "large")])
def test_truth_agrees_with_an_independent_voxelisation(seed: int, defect: str) -> None:
    config = PhantomConfig(seed=seed, defect=defect, affected="left" if seed % 2 else "right")
    feet = sample_feet(config, np.random.default_rng(seed))
    foot = feet[config.affected]
    truth, _, _ = T._side_truth(foot, 1.0, 5.0)
    vox = _voxel_metrics(foot, h=0.35)
    assert vox["bone_area_mm2"] == pytest.approx(truth["bone_area_mm2"], rel=0.03)
    assert vox["bone_volume_ml"] == pytest.approx(truth["bone_volume_ml"], rel=0.02)
    assert vox["soft_tissue_volume_ml"] == pytest.approx(truth["soft_tissue_volume_ml"], rel=0.03)
    assert vox["mean"] == pytest.approx(truth["thickness_mm"]["mean"], rel=0.04)
    assert vox["median"] == pytest.approx(truth["thickness_mm"]["median"], rel=0.04)
    assert vox["covered_fraction"] == pytest.approx(truth["covered_fraction"], abs=0.01)
    assert vox["exposed_area_mm2"] == pytest.approx(truth["exposed_area_mm2"], rel=0.15, abs=5.0)
    if defect == "none":
        assert truth["exposed_area_mm2"] == 0.0
    else:
        assert truth["exposed_area_mm2"] > 15.0


def test_bones_lie_inside_the_skin_envelope() -> None:
    """Model invariant the body field relies on: no bone reaches out of the skin envelope."""
    config = PhantomConfig(seed=21, defect="none")
    feet = sample_feet(config, np.random.default_rng(21))
    for foot in feet.values():
        for part in foot.bones:
            lo, hi = part.bbox_lo, part.bbox_hi
            pts = lo + np.random.default_rng(0).random((20000, 3)) * (hi - lo)
            on_bone = np.abs(part.sdf(pts)) < 0.1
            assert on_bone.any(), part.name
            assert foot.envelope_sdf(pts[on_bone]).max() < -0.5, part.name
