"""Stage 4: mirror the healthy foot and register it onto the affected one, on bone.

The healthy foot is reflected exactly across the patient's sagittal plane
(x -> -x in LPS), then aligned rigidly on bone surfaces: an initial pose from the
feet's anatomical axes (robust to large pose differences), a trimmed
iterative-closest-point stage on all bones, then a local stage on the hallux
(proximal phalanx fully, the distal phalanx without its tuft, so a wound or a
missing tip cannot mislead it). No deformable step: it would warp away the soft-
tissue difference being measured. Transforms map healthy-foot patient points to
affected-foot patient points (determinant -1: they include the reflection).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from bonecover.hallux import HalluxBones
from bonecover.segment import Tissues

log = logging.getLogger(__name__)

__all__ = ["MIRROR", "QA_FAIL_MM", "QA_PASS_MM", "Registration", "kabsch", "register_feet"]

#: Reflection across the patient's sagittal plane (LPS x -> -x), homogeneous.
MIRROR = np.diag([-1.0, 1.0, 1.0, 1.0])
#: Median hallux bone-surface distance after registration: pass below, fail above, mm.
QA_PASS_MM = 0.6
QA_FAIL_MM = 1.2
#: Fraction of the distal phalanx (from the tip) left out of the local stage.
TUFT_FRACTION = 0.35


@dataclass(frozen=True, eq=False)
class Registration:
    """Healthy -> affected transforms and how well they fit.

    Parameters
    ----------
    foot_transform, hallux_transform : (4, 4) healthy patient mm -> affected patient mm.
    foot_residual_mm : median bone-surface distance over the whole foot after the foot stage
        (point to point), mm.
    residual_mm : median hallux bone-surface distance after the hallux stage, across the
        affected surface (point to plane; decides QA), mm.
    qa : ``pass`` | ``warn`` | ``fail``.
    """

    foot_transform: np.ndarray
    hallux_transform: np.ndarray
    foot_residual_mm: float
    residual_mm: float
    qa: str


def apply(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 transform to (N, 3) points."""
    return points @ transform[:3, :3].T + transform[:3, 3]


def kabsch(source: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None,
           *, reflect: bool = False) -> np.ndarray:
    """Weighted least-squares orthogonal transform (4x4) mapping ``source`` onto ``target``.

    ``reflect`` asks for determinant -1 (a rotation composed with a reflection).
    """
    w = np.ones(len(source)) if weights is None else np.asarray(weights, float)
    w = w / w.sum()
    cs, ct = w @ source, w @ target
    h = (source - cs).T @ ((target - ct) * w[:, None])
    u, _, vt = np.linalg.svd(h)
    d = np.eye(3)
    if np.sign(np.linalg.det(vt.T @ u.T)) != (-1.0 if reflect else 1.0):
        d[2, 2] = -1.0
    r = vt.T @ d @ u.T
    m = np.eye(4)
    m[:3, :3] = r
    m[:3, 3] = ct - r @ cs
    return m


def _boundary_index(mask: np.ndarray, max_points: int, seed: int) -> np.ndarray:
    boundary = mask & ~ndimage.binary_erosion(mask)
    idx = np.argwhere(boundary)
    if len(idx) > max_points:
        idx = idx[np.random.default_rng(seed).choice(len(idx), max_points, replace=False)]
    return idx


def surface_points(tissues: Tissues, mask: np.ndarray, max_points: int, seed: int = 0) -> np.ndarray:
    """Voxel centres on the boundary of ``mask`` (LPS mm), subsampled to at most ``max_points``."""
    return tissues.ct.index_to_world(_boundary_index(mask, max_points, seed)[:, ::-1].astype(float))


def surface_points_and_normals(tissues: Tissues, mask: np.ndarray, max_points: int,
                               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Boundary voxel centres of ``mask`` (LPS mm) and the surface's unit outward normals there.

    Normals from the gradient of the mask smoothed by one voxel, mapped to patient space
    (any spacing and direction).
    """
    idx = _boundary_index(mask, max_points, seed)
    lo = np.maximum(idx.min(axis=0) - 4, 0)
    hi = np.minimum(idx.max(axis=0) + 5, mask.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    smooth = ndimage.gaussian_filter(mask[box].astype(np.float32), 1.0)
    local = tuple((idx - lo).T)
    grad_kji = np.stack([np.gradient(smooth, axis=a)[local] for a in range(3)], axis=1)
    inv = np.linalg.inv(tissues.ct.affine[:3, :3])
    normals = -(grad_kji[:, ::-1] @ inv)  # d/dx = sum_i (d/di)(di/dx): rows of inv; outward = down the mask
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)
    return tissues.ct.index_to_world(idx[:, ::-1].astype(float)), normals


def surface_distance_mm(moved: np.ndarray, target: np.ndarray, target_normals: np.ndarray) -> float:
    """Median distance from moved points to the target surface, along the target's normals, mm.

    Point-to-plane: voxel-centre samples of two well-aligned surfaces are up to half a
    voxel apart along the surface; only the distance across it says how well they fit.
    """
    _, nearest = cKDTree(target).query(moved, workers=-1)
    return float(np.median(np.abs(np.einsum("ij,ij->i", moved - target[nearest], target_normals[nearest]))))


def icp(source: np.ndarray, target: np.ndarray, init: np.ndarray, *, weights: np.ndarray | None = None,
        keep: float = 0.85, iterations: int = 40, tol_mm: float = 1e-3) -> tuple[np.ndarray, float]:
    """Trimmed point-to-point ICP (rigid); returns the transform and the median residual, mm."""
    tree = cKDTree(target)
    transform = init.copy()
    w_all = np.ones(len(source)) if weights is None else weights
    previous = np.inf
    for _ in range(iterations):
        moved = apply(transform, source)
        dist, nearest = tree.query(moved, workers=-1)
        cut = np.quantile(dist, keep)
        sel = dist <= cut
        step = kabsch(moved[sel], target[nearest[sel]], w_all[sel])
        transform = step @ transform
        err = float(np.median(dist))
        if abs(previous - err) < tol_mm:
            break
        previous = err
    dist, _ = tree.query(apply(transform, source), workers=-1)
    return transform, float(np.median(dist))


def _frame_matrix(distal: np.ndarray, medial: np.ndarray, dorsal: np.ndarray) -> np.ndarray:
    return np.stack([distal, medial, dorsal], axis=1)


def _initial(affected: HalluxBones, healthy: HalluxBones) -> np.ndarray:
    """Rotation aligning the mirrored healthy foot axes with the affected ones, anchored at the hallux base."""
    m3 = MIRROR[:3, :3]
    a = _frame_matrix(affected.axes.distal, affected.axes.medial, affected.axes.dorsal)
    h = m3 @ _frame_matrix(healthy.axes.distal, healthy.axes.medial, healthy.axes.dorsal)
    r = a @ h.T
    u, _, vt = np.linalg.svd(r)  # nearest proper rotation
    r = u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt
    init = np.eye(4)
    init[:3, :3] = r
    init[:3, 3] = affected.frame.base_mm - r @ (m3 @ healthy.frame.base_mm)
    return init


def _hallux_points(tissues: Tissues, bones: HalluxBones, max_points: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hallux surface points without the distal tuft, their weights (proximal phalanx 2, distal 1)
    and the surface normals there."""
    labels = bones.labels
    axis = bones.frame.axis
    prox, prox_n = surface_points_and_normals(tissues, labels == bones.proximal_label, max_points)
    if bones.distal_label == bones.proximal_label:  # phalanges joined: cut the tuft off the whole toe
        along = (prox - bones.frame.base_mm) @ axis
        lo, hi = along.min(), along.max()
        keep = along <= hi - TUFT_FRACTION * 0.45 * (hi - lo)
        return prox[keep], np.where(along[keep] <= lo + 0.55 * (hi - lo), 2.0, 1.0), prox_n[keep]
    dist, dist_n = surface_points_and_normals(tissues, labels == bones.distal_label, max_points)
    along = (dist - bones.frame.base_mm) @ axis
    lo, hi = along.min(), along.max()
    keep = along <= hi - TUFT_FRACTION * (hi - lo)
    return (np.concatenate([prox, dist[keep]]),
            np.concatenate([np.full(len(prox), 2.0), np.ones(int(keep.sum()))]),
            np.concatenate([prox_n, dist_n[keep]]))


def register_feet(affected: Tissues, affected_hallux: HalluxBones, healthy: Tissues,
                  healthy_hallux: HalluxBones) -> Registration:
    """Mirror the healthy foot and register it onto the affected one (see module docstring)."""
    init = _initial(affected_hallux, healthy_hallux)
    target_all = surface_points(affected, np.asarray(affected.bone.array, bool), 40000, seed=1)
    source_all = apply(MIRROR, surface_points(healthy, np.asarray(healthy.bone.array, bool), 20000, seed=2))
    foot, foot_residual = icp(source_all, target_all, init, keep=0.8)
    target_h, _, target_normals = _hallux_points(affected, affected_hallux, 20000)
    source_h, weights, _ = _hallux_points(healthy, healthy_hallux, 8000)
    source_h = apply(MIRROR, source_h)
    best = None
    # start the local stage from the foot alignment, and from the hallux axes alone
    for start in (foot, _hallux_start(affected_hallux, healthy_hallux, foot)):
        local, residual = icp(source_h, target_h, start, weights=weights, keep=0.9)
        if best is None or residual < best[1]:
            best = (local, residual)
    assert best is not None
    local, _ = best
    residual = surface_distance_mm(apply(local, source_h), target_h, target_normals)
    qa = "pass" if residual <= QA_PASS_MM else ("warn" if residual <= QA_FAIL_MM else "fail")
    log.info("registration: foot residual %.2f mm, hallux residual %.2f mm (%s)", foot_residual, residual, qa)
    return Registration(foot @ MIRROR, local @ MIRROR, foot_residual, residual, qa)


def _hallux_start(affected: HalluxBones, healthy: HalluxBones, foot: np.ndarray) -> np.ndarray:
    """Pose that puts the mirrored healthy hallux axis on the affected one (rotation about it from ``foot``)."""
    h_base = apply(foot, (MIRROR[:3, :3] @ healthy.frame.base_mm)[None])[0]
    h_tip = apply(foot, (MIRROR[:3, :3] @ healthy.frame.tip_mm)[None])[0]
    h_axis = (h_tip - h_base) / np.linalg.norm(h_tip - h_base)
    a_axis = affected.frame.axis
    v = np.cross(h_axis, a_axis)
    s, c = np.linalg.norm(v), float(h_axis @ a_axis)
    r = np.eye(3)
    if s > 1e-9:
        k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]]) / s
        angle = np.arctan2(s, c)
        r = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)
    m = np.eye(4)
    m[:3, :3] = r
    m[:3, 3] = affected.frame.base_mm - r @ h_base
    return m @ foot
