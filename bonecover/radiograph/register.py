"""Stage 4 (2-D): mirror the healthy foot and register it onto the affected one, on bone.

The healthy foot's bone outline points are reflected across the image's vertical
axis (x -> -x in plane mm: the patient's sagittal direction of a DP view), started
from the feet's own axes (long axis and medial direction, anchored at the hallux;
nine starts turned -20..20 degrees about the hallux, the best trimmed fit kept),
then aligned by trimmed ICP: globally on every bone outline of the foot as a
similarity (radiographs differ in magnification; the scale is kept within
0.9-1.1), then locally on the hallux (proximal phalanx and the distal phalanx
without its tuft) as a rigid refinement. Transforms are 3x3 homogeneous matrices
mapping healthy plane mm to affected plane mm (determinant < 0: they include the
reflection). QA from the median hallux outline distance: pass <= 0.6 mm, warn
<= 1.2 mm, fail above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from bonecover.radiograph.hallux import Foot2D, Hallux2D
from bonecover.radiograph.image import Image2D

__all__ = ["MIRROR_2D", "Registration2D", "apply_2d", "register_feet_2d", "similarity_2d"]

MIRROR_2D = np.diag([-1.0, 1.0, 1.0])
QA_PASS_MM = 0.6
QA_FAIL_MM = 1.2


@dataclass(frozen=True, eq=False)
class Registration2D:
    """Healthy -> affected transforms (3x3, plane mm) and how well they fit."""

    foot_transform: np.ndarray
    hallux_transform: np.ndarray
    scale: float
    foot_residual_mm: float
    residual_mm: float
    qa: str


def apply_2d(t: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 3x3 homogeneous transform to (N, 2) points."""
    return pts @ t[:2, :2].T + t[:2, 2]


def similarity_2d(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None, *,
                  scale: bool = False, scale_range: tuple[float, float] = (0.9, 1.1)) -> np.ndarray:
    """Weighted least-squares rotation (+ uniform scale) + translation, 3x3 (Umeyama 1991)."""
    w = np.ones(len(src)) if weights is None else np.asarray(weights, float)
    w = w / w.sum()
    cs, cd = w @ src, w @ dst
    a, b = src - cs, dst - cd
    h = a.T @ (b * w[:, None])
    u, sv, vt = np.linalg.svd(h)
    d = np.eye(2)
    if np.linalg.det(vt.T @ u.T) < 0:
        d[1, 1] = -1.0
    r = vt.T @ d @ u.T
    s = 1.0
    if scale:
        var = float(w @ (a * a).sum(axis=1))
        s = float(np.clip((sv * np.diag(d)).sum() / var, *scale_range)) if var > 0 else 1.0
    m = np.eye(3)
    m[:2, :2] = s * r
    m[:2, 2] = cd - s * r @ cs
    return m


def _icp(src: np.ndarray, dst: np.ndarray, init: np.ndarray, *, weights: np.ndarray | None = None, scale: bool,
         keep: float = 0.8, iterations: int = 50) -> tuple[np.ndarray, float]:
    """Trimmed ICP; each iteration re-estimates the whole transform from ``src`` (so the
    similarity's scale stays within its range), keeping ``init``'s handedness."""
    tree = cKDTree(dst)
    flip = MIRROR_2D if np.linalg.det(init[:2, :2]) < 0 else np.eye(3)
    base = apply_2d(flip, src)  # proper (rotation + scale) transforms from here on
    t = init @ flip
    w_all = np.ones(len(src)) if weights is None else weights
    prev = np.inf
    for _ in range(iterations):
        dist, near = tree.query(apply_2d(t, base), workers=-1)
        sel = dist <= np.quantile(dist, keep)
        t = similarity_2d(base[sel], dst[near[sel]], w_all[sel], scale=scale)
        err = float(np.median(dist))
        if abs(prev - err) < 1e-4:
            break
        prev = err
    dist, _ = tree.query(apply_2d(t, base), workers=-1)
    return t @ flip, float(np.median(dist))


def outline_points(image: Image2D, mask: np.ndarray, max_points: int = 6000, seed: int = 0,
                   keep: np.ndarray | None = None) -> np.ndarray:
    """Pixel centres on the boundary of ``mask`` (plane mm), only where ``keep``, subsampled."""
    edge = mask & ~ndimage.binary_erosion(mask)
    if keep is not None:
        edge &= keep
    idx = np.argwhere(edge)
    if len(idx) > max_points:
        idx = idx[np.random.default_rng(seed).choice(len(idx), max_points, replace=False)]
    return image.index_to_plane(idx.astype(float))


def _qa(residual: float) -> str:
    return "pass" if residual <= QA_PASS_MM else ("warn" if residual <= QA_FAIL_MM else "fail")


def register_feet_2d(aff_img: Image2D, aff_bone: np.ndarray, aff_foot: Foot2D, aff_h: Hallux2D,
                     h_img: Image2D, h_bone: np.ndarray, h_foot: Foot2D, h_h: Hallux2D, *,
                     aff_keep: np.ndarray | None = None, h_keep: np.ndarray | None = None) -> Registration2D:
    """Mirror the healthy foot and register it on the affected one (see module doc).

    ``aff_keep`` / ``h_keep``: where bone outlines are the bones' own (the inner field).
    """
    a_all = outline_points(aff_img, aff_bone & aff_foot.mask, keep=aff_keep)
    h_all = outline_points(h_img, h_bone & h_foot.mask, keep=h_keep)
    a_hal = outline_points(aff_img, aff_h.mask & ~aff_h.tuft)
    h_hal = outline_points(h_img, h_h.mask & ~h_h.tuft)
    # initial pose from the axes: mirrored healthy (distal, medial) onto affected (distal, medial)
    m2 = MIRROR_2D[:2, :2]
    src_axes = np.stack([m2 @ h_foot.distal, m2 @ h_foot.medial], axis=1)
    dst_axes = np.stack([aff_foot.distal, aff_foot.medial], axis=1)
    rot = dst_axes @ np.linalg.inv(src_axes)
    u, _, vt = np.linalg.svd(rot)
    rot = u @ vt
    init = np.eye(3)
    init[:2, :2] = rot
    init = init @ MIRROR_2D
    h_c = apply_2d(init, h_hal).mean(axis=0)
    init[:2, 2] = a_hal.mean(axis=0) - h_c
    # the feet's axes agree only to some degrees (different collimation, pose): try rotations
    # about the hallux and keep the best trimmed fit, so no ray is matched to its neighbour
    anchor = a_hal.mean(axis=0)
    best = (np.inf, init)
    for angle in np.deg2rad(np.arange(-20.0, 20.1, 5.0)):
        c, s_ = np.cos(angle), np.sin(angle)
        turn = np.array([[c, -s_, 0.0], [s_, c, 0.0], [0.0, 0.0, 1.0]])
        turn[:2, 2] = anchor - turn[:2, :2] @ anchor
        t, res = _icp(h_all, a_all, turn @ init, scale=False, keep=0.7, iterations=30)
        if res < best[0]:
            best = (res, t)
    rigid = best[1]
    foot_t, foot_res = _icp(h_all, a_all, rigid, scale=True, keep=0.7)
    # local, rigid on the hallux (the global scale kept)
    local, res = _icp(h_hal, a_hal, foot_t, scale=False, keep=0.9)
    scale = float(np.sqrt(abs(np.linalg.det(foot_t[:2, :2]))))
    return Registration2D(foot_t, local, scale, foot_res, res, _qa(res))
