"""The 2-D definitions and the DX phantom's truth: known answers and an independent rasterisation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from bonecover.radiograph.image import Image2D
from bonecover.radiograph.outline import exposed_band, iso_outline, margins, outline_coverage, resample_polyline


def _circle_field(centre: tuple[float, float], radius: float, step: float, size: float) -> Image2D:
    xs = np.arange(0.0, size, step)
    xx, yy = np.meshgrid(xs, xs)
    return Image2D(np.hypot(xx - centre[0], yy - centre[1]) - radius, (step, step))


def test_concentric_circles_have_the_analytic_margin() -> None:
    bone = iso_outline(_circle_field((20.0, 20.0), 5.0, 0.1, 40.0), 0.0)
    body_field = _circle_field((20.0, 20.0), 8.0, 0.1, 40.0)
    skin = np.concatenate([resample_polyline(p, 0.05) for p in iso_outline(body_field, 0.0).polylines])
    m = margins(bone.midpoints_mm, np.zeros(len(bone.lengths_mm), bool), skin)
    out = outline_coverage(bone.lengths_mm, m, 1.0)
    assert out["bone_contour_mm"] == pytest.approx(2 * np.pi * 5.0, rel=2e-3)
    assert out["margin_mm"]["median"] == pytest.approx(3.0, abs=0.02)
    assert out["exposed_contour_mm"] == 0.0 and out["covered_fraction"] == 1.0


def test_bone_through_the_skin_is_exposed_over_the_analytic_arc() -> None:
    # bone circle r=5 at (20, 20); body circle r=8 at (24, 20): bone pokes 1 mm out on the left
    bone = iso_outline(_circle_field((20.0, 20.0), 5.0, 0.05, 40.0), 0.0)
    body = _circle_field((24.0, 20.0), 8.0, 0.05, 40.0)
    skin = np.concatenate([resample_polyline(p, 0.02) for p in iso_outline(body, 0.0).polylines])
    outside = np.hypot(bone.midpoints_mm[:, 0] - 24.0, bone.midpoints_mm[:, 1] - 20.0) > 8.0
    m = margins(bone.midpoints_mm, outside, skin)
    out = outline_coverage(bone.lengths_mm, m, 1.0)
    # margin at angle t from the left: 8 - |p - c_body|; exposed where < 1 mm, i.e. |p - c_body| > 7
    t = np.linspace(-np.pi, np.pi, 200001)
    p = np.stack([20.0 + 5.0 * np.cos(t), 20.0 + 5.0 * np.sin(t)], axis=1)
    exposed = np.hypot(p[:, 0] - 24.0, p[:, 1] - 20.0) > 7.0
    assert out["exposed_contour_mm"] == pytest.approx(exposed.mean() * 2 * np.pi * 5.0, abs=0.1)
    # the band: exposed outline if the margins were 0.5 mm longer (|p - c_body| > 7.5) or shorter (> 6.5)
    band = exposed_band(bone.lengths_mm, m, 1.0, 0.5)
    for key, reach in (("low", 7.5), ("high", 6.5)):
        arc = np.hypot(p[:, 0] - 24.0, p[:, 1] - 20.0) > reach
        assert band[key] == pytest.approx(arc.mean() * 2 * np.pi * 5.0, abs=0.1), key
    assert band["low"] < out["exposed_contour_mm"] < band["high"]


@pytest.mark.slow
def test_projected_truth_agrees_with_an_independent_rasterisation() -> None:
    """Truth margins of the distal phalanx against a brute-force 0.25 mm ray rasterisation
    (every ray sampled every 0.4 mm along the beam) and Euclidean distance transforms."""
    from bonecover.phantom import PhantomConfig, sample_feet
    from bonecover.radiograph.phantom_dx import _dx_defect, _side_truth

    feet = sample_feet(PhantomConfig(seed=11, defect="small"), np.random.default_rng(11))
    from dataclasses import replace

    foot = _dx_defect(replace(feet["right"], defect=None), "small", np.random.default_rng([11, 62]))
    metrics, shapes = _side_truth(foot, 1.0, 5.0)
    dp = foot.bone("hallux_distal_phalanx")
    lo, hi = dp.bbox_lo[:2] - 7.0, dp.bbox_hi[:2] + 7.0
    step, dz = 0.25, 0.4
    xs, ys = np.arange(lo[0], hi[0], step), np.arange(lo[1], hi[1], step)
    flo, fhi = foot.bbox_mm()
    zs = np.arange(max(flo[2], dp.bbox_lo[2] - 15.0), min(fhi[2], dp.bbox_hi[2] + 15.0), dz)
    X, Y, Z = np.meshgrid(xs, ys, zs, indexing="ij")
    pts = np.stack([X.ravel(), Y.ravel(), Z.ravel()], axis=1)
    hits_bone = (foot.hallux_sdf(pts) < 0).reshape(X.shape).any(axis=2).T
    hits_body = (foot.body_sdf(pts) < 0).reshape(X.shape).any(axis=2).T
    edge = hits_bone & ~ndimage.binary_erosion(hits_bone)
    dist = ndimage.distance_transform_edt(hits_body, sampling=step)
    # compare only away from the crop's border
    inner = np.zeros_like(edge)
    inner[12:-12, 12:-12] = True
    raster = dist[edge & inner]
    rc = np.argwhere(edge & inner)
    box_lo = np.array([xs[rc[:, 1].min()], ys[rc[:, 0].min()]])
    box_hi = np.array([xs[rc[:, 1].max()], ys[rc[:, 0].max()]])
    mid = shapes["outline"].midpoints_mm
    sel = np.all((mid >= box_lo) & (mid <= box_hi), axis=1)
    truth_m = shapes["margin_mm"][sel]
    # from a bone pixel centre (up to half a pixel inside) to an outside pixel centre (up to
    # half a pixel out): the raster reads about one pixel long; 1.2 pixels of tolerance
    assert np.median(raster) - step / 2 == pytest.approx(np.median(truth_m), abs=1.2 * step)
    assert (raster < 1.0).mean() == pytest.approx((truth_m < 1.0).mean(), abs=0.06)
    assert metrics["exposed_contour_mm"] > 0.0
