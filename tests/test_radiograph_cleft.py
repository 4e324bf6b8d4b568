"""Clefts between touching toes (``bonecover.radiograph.cleft``): known answers on synthetic projections.

Two toes are capsules of soft tissue (radius 9 and 7 mm, axes along y) joined proximally
to a forefoot slab; a bone capsule (radius 5 mm) lies inside the first toe. The image is the
line integral of attenuation along the beam (exact chords), blurred and with seeded noise,
on a 0.15 mm grid. When the toes touch, the silhouette (air + 5 noise SD) does not enter
their cleft; the margin of the bone's lateral edge is then exactly r_toe - r_bone = 4 mm.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from bonecover.radiograph.cleft import find_clefts
from bonecover.radiograph.image import Image2D
from bonecover.radiograph.outline import iso_outline, margins, resample_polyline

PX = 0.15  # mm
MU = 0.02  # per mm, soft tissue
R1, R2, RB = 9.0, 7.0, 5.0  # hallux, second toe, hallux bone radii (mm)
TIP1, TIP2, BASE = 14.0, 20.0, 52.0  # toe tips and the forefoot's distal edge (y, mm)
X1 = 20.0  # hallux axis (x, mm)


def _chord(x: np.ndarray, y: np.ndarray, cx: float, y0: float, y1: float, r: float) -> np.ndarray:
    """Length (mm) of a beam along z through a capsule of radius r on the axis x = cx, y0..y1 (z = 0)."""
    d2 = (x - cx) ** 2 + (y - np.clip(y, y0, y1)) ** 2
    return 2.0 * np.sqrt(np.clip(r * r - d2, 0.0, None))


def _projection(gap_mm: float, seed: int) -> tuple[Image2D, np.ndarray, np.ndarray, float, float]:
    """Image (bone bright), body and bone masks, air level and body level of two toes ``gap_mm`` apart."""
    x2 = X1 + R1 + R2 + gap_mm
    ny, nx = int(75 / PX), int(55 / PX)
    sub = 3  # 3 x 3 samples per pixel: the detector integrates over its pixel
    yy, xx = np.mgrid[0:ny * sub, 0:nx * sub]
    x = (xx + 0.5) / sub * PX - PX / 2
    y = (yy + 0.5) / sub * PX - PX / 2
    toes = _chord(x, y, X1, TIP1, 80.0, R1) + _chord(x, y, x2, TIP2, 80.0, R2)
    slab = 30.0 * np.clip((y - BASE) / 3.0, 0.0, 1.0) * np.clip((50.0 - x) / 3.0, 0.0, 1.0) * (x > 5)
    bone = _chord(x, y, X1, TIP1 + 4.0, 80.0, RB)
    line = MU * np.maximum(toes, slab) + 1.5 * MU * bone
    line = line.reshape(ny, sub, nx, sub).mean(axis=(1, 3))
    rng = np.random.default_rng(seed)
    sd = 0.004
    img = ndimage.gaussian_filter(line, 0.1 / PX) + rng.normal(0.0, sd, line.shape)
    img = ndimage.gaussian_filter(img, 1.0)  # the pipeline's 1-pixel smoothing
    sd_smooth = sd / (2.0 * np.sqrt(np.pi))
    body_level = 5.0 * sd_smooth
    body = ndimage.binary_fill_holes(img > body_level)
    bone_px = bone.reshape(ny, sub, nx, sub).mean(axis=(1, 3)) > 0
    return Image2D(img, (PX, PX)), body, bone_px, 0.0, body_level


def _margins(image: Image2D, body_level: float, extra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lateral bone-edge points (alongside both toes) and their margins with ``extra`` outside points."""
    sil = iso_outline(image, body_level)
    pts = np.concatenate([resample_polyline(p, 0.05) for p in sil.polylines] + [extra.reshape(-1, 2)])
    ys = np.arange(TIP2 + 6.0, BASE - 6.0, 0.5)
    edge = np.stack([np.full_like(ys, X1 + RB), ys], axis=1)
    return edge, margins(edge, np.zeros(len(edge), bool), pts)


@pytest.mark.parametrize("gap_mm", [0.0, 0.1])
def test_cleft_between_touching_toes_gives_the_exact_margin(gap_mm: float) -> None:
    image, body, bone, air, level = _projection(gap_mm, seed=11)
    # the silhouette does not enter the cleft: without it the lateral margins are far too large
    _, before = _margins(image, level, np.zeros((0, 2)))
    assert np.median(before) > 6.0
    clefts = find_clefts(image, body, bone, air_level=air, body_level=level)
    assert len(clefts.points_mm) > 0
    _, after = _margins(image, level, clefts.points_mm)
    exact = R1 - RB
    assert np.max(np.abs(after - exact)) < 0.3, (after.min(), after.max())
    # the cleft stops where the toes meet the forefoot: the slab is not cut
    assert clefts.points_mm[:, 1].max() < BASE + 1.0


def test_toes_well_apart_change_nothing() -> None:
    image, body, bone, air, level = _projection(4.0, seed=12)
    clefts = find_clefts(image, body, bone, air_level=air, body_level=level)
    edge, before = _margins(image, level, np.zeros((0, 2)))
    _, after = _margins(image, level, clefts.points_mm)
    assert np.allclose(before, after, atol=0.02)
    exact = R1 - RB  # the silhouette enters the wide gap: already right
    assert np.max(np.abs(before - exact)) < 0.3
    # at most a few points in the web's notch, on the silhouette itself
    sil = np.concatenate([resample_polyline(p, 0.05) for p in iso_outline(image, level).polylines])
    if len(clefts.points_mm):
        from scipy.spatial import cKDTree

        d, _ = cKDTree(sil).query(clefts.points_mm)
        assert d.max() < 0.5


def test_fused_toes_are_not_cut() -> None:
    # toes whose tissue is joined over 3 mm in the projection: a shallow valley, not a cleft.
    # Past the silhouette's notch the tissue thickens gradually (the tips are round): the line
    # may go on up to 2 mm there (floor under 75 % of the shoulders), never along the toes
    image, body, bone, air, level = _projection(-3.0, seed=13)
    clefts = find_clefts(image, body, bone, air_level=air, body_level=level)
    sil = np.concatenate([resample_polyline(p, 0.05) for p in iso_outline(image, level).polylines])
    if len(clefts.points_mm):
        from scipy.spatial import cKDTree

        d, _ = cKDTree(sil).query(clefts.points_mm)
        assert d.max() < 2.0
    _, before = _margins(image, level, np.zeros((0, 2)))
    _, after = _margins(image, level, clefts.points_mm)
    assert np.median(np.abs(after - before)) < 0.05
