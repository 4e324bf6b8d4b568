"""Ground truth of SPEC's metrics, computed from the phantom's implicit geometry.

Nothing here looks at a rendered image. Surfaces are the zero level sets of the
foot model's signed-distance functions, meshed finely (0.2 mm for bone, 0.3 mm
for skin) in a narrow band; thickness is the exact distance from each bone-surface
element to the skin mesh (point-to-triangle); volumes come from the divergence
theorem (bone) or a 0.25 mm midpoint quadrature of the exact tissue indicators
(soft-tissue shell). Correspondence between the feet follows the anatomy: a point
of an affected phalanx maps to the same material point of the healthy phalanx.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.spatial import cKDTree
from skimage.measure import marching_cubes

from bonecover.foot_model import HALLUX_BONES, FootModel
from bonecover.implicit import apply_affine
from bonecover.metrics import comparison_metrics, regional_coverage, surface_coverage, thickness_deficit
from bonecover.regions import HalluxFrame, classify_regions
from bonecover.register import kabsch
from bonecover.surface import SurfaceSamples, distance_to_mesh, enclosed_volume_mm3, surface_samples

__all__ = ["compute_truth", "hallux_frame", "implicit_mesh", "kabsch"]

Field = Callable[[np.ndarray], np.ndarray]

BONE_MESH_MM = 0.3
SKIN_MESH_MM = 0.4
SHELL_QUADRATURE_MM = 1.0 / 3.0
#: How far from the hallux bones the skin is meshed at first (widened if needed).
SKIN_SEARCH_MM = 16.0


def implicit_mesh(field: Field, lo: np.ndarray, hi: np.ndarray, step_mm: float,
                  *, coarse_mm: float = 1.8, chunk: int = 400_000) -> tuple[np.ndarray, np.ndarray]:
    """Triangle mesh of the zero level set of ``field`` inside the box [lo, hi].

    Evaluates the field only in a narrow band: first on a grid of about
    ``coarse_mm``, then finely in the coarse cells the surface may cross.

    Returns (V, 3) vertices in mm and (F, 3) faces oriented outwards (field > 0).
    """
    lo = np.asarray(lo, float)
    coarse = max(1, int(round(coarse_mm / step_mm)))
    n = np.ceil((np.asarray(hi, float) - lo) / step_mm).astype(int) + 1
    nc = (n - 1) // coarse + 2
    cidx = np.stack(np.meshgrid(*(np.arange(m) for m in nc), indexing="ij"), axis=-1).reshape(-1, 3)
    fc = _evaluate(field, lo + cidx * coarse * step_mm, chunk).reshape(nc)
    # a coarse cell may hold surface if its corners come within reach of zero
    reach = 1.5 * coarse * step_mm * np.sqrt(3) / 2 + 0.5
    corner_min = np.full(nc - 1, np.inf)
    corner_max = np.full(nc - 1, -np.inf)
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                v = fc[dx:dx + nc[0] - 1, dy:dy + nc[1] - 1, dz:dz + nc[2] - 1]
                corner_min = np.minimum(corner_min, v)
                corner_max = np.maximum(corner_max, v)
    active = (corner_min <= reach) & (corner_max >= -reach)
    mask = np.zeros(tuple(nc[:3] * coarse + 1), dtype=bool)
    for ci, cj, ck in np.argwhere(active):
        mask[ci * coarse:(ci + 1) * coarse + 1, cj * coarse:(cj + 1) * coarse + 1,
             ck * coarse:(ck + 1) * coarse + 1] = True
    # outside the band every fine point takes the value of its nearest coarse node, whose
    # sign is right there; inside the band the field itself
    nearest = np.round(np.arange(mask.shape[0]) / coarse).astype(int), np.round(
        np.arange(mask.shape[1]) / coarse).astype(int), np.round(np.arange(mask.shape[2]) / coarse).astype(int)
    nearest = tuple(np.minimum(ix, m - 1) for ix, m in zip(nearest, nc, strict=True))
    values = fc[np.ix_(*nearest)].astype(np.float32)
    fine_idx = np.argwhere(mask)
    values[mask] = _evaluate(field, lo + fine_idx * step_mm, chunk)
    verts, faces, _, _ = marching_cubes(values, 0.0, spacing=(step_mm,) * 3, allow_degenerate=False)
    return verts + lo, faces


def _evaluate(field: Field, points: np.ndarray, chunk: int) -> np.ndarray:
    out = np.empty(len(points), dtype=np.float64)
    for s in range(0, len(points), chunk):
        out[s:s + chunk] = field(points[s:s + chunk])
    return out


def hallux_frame(foot: FootModel) -> HalluxFrame:
    """The anatomical hallux frame of a foot model (regions are defined in it)."""
    f2p = foot.params.foot_to_patient()
    return HalluxFrame.from_directions(
        foot.landmarks_mm["proximal_phalanx_base_centre"], foot.landmarks_mm["hallux_tip"],
        dorsal_hint=f2p[:3, 2], medial_hint=-f2p[:3, 1],
    )


def _hallux_box(foot: FootModel) -> tuple[np.ndarray, np.ndarray]:
    parts = [foot.bone(n) for n in HALLUX_BONES]
    return np.min([p.bbox_lo for p in parts], axis=0), np.max([p.bbox_hi for p in parts], axis=0)


def _hallux_surface(foot: FootModel) -> tuple[SurfaceSamples, float]:
    lo, hi = _hallux_box(foot)
    verts, faces = implicit_mesh(foot.hallux_sdf, lo - 1.0, hi + 1.0, BONE_MESH_MM)
    return surface_samples(verts, faces), enclosed_volume_mm3(verts, faces)


def _thickness(foot: FootModel, bone: SurfaceSamples) -> np.ndarray:
    """Distance from each bone-surface element to the nearest outside point (the skin), mm."""
    lo, hi = _hallux_box(foot)
    reach = SKIN_SEARCH_MM
    while True:
        verts, faces = implicit_mesh(foot.body_sdf, lo - reach, hi + reach, SKIN_MESH_MM)
        t = distance_to_mesh(bone.points_mm, verts, faces)
        # a point deeper than the meshed reach may have its nearest skin outside the box
        if t.max() < reach - 1.0:
            return t
        reach *= 1.6


def _shell_volume_ml(foot: FootModel, bone: SurfaceSamples, shell_mm: float) -> float:
    """Soft tissue within ``shell_mm`` of the hallux bone surface, mL.

    Midpoint quadrature at ``SHELL_QUADRATURE_MM`` of the exact indicators (body,
    bone, distance to the hallux surface). Whole 1 mm cells whose centre is far
    enough from every boundary are classified at once (with a 1.5x safety factor on
    the approximate signed distances); the others point by point.
    """
    lo, hi = _hallux_box(foot)
    lo, hi = lo - shell_mm - 1.0, hi + shell_mm + 1.0
    tree = cKDTree(bone.points_mm)
    cell = 1.0
    half_diag = cell * np.sqrt(3) / 2
    nc = np.ceil((hi - lo) / cell).astype(int)
    centres = lo + (np.argwhere(np.ones(nc, bool)) + 0.5) * cell
    dist, _ = tree.query(centres, distance_upper_bound=shell_mm + 2.0, workers=-1)
    centres, dist = centres[dist <= shell_mm + half_diag + 0.2], dist[dist <= shell_mm + half_diag + 0.2]
    body = foot.body_sdf(centres)
    bones = foot.bone_sdf(centres)
    safe = 1.5 * half_diag + 0.2
    in_shell = dist <= shell_mm - half_diag - 0.2
    soft = (body < -safe) & (bones > safe)
    not_soft = (body > safe) | (bones < -safe)
    volume_mm3 = float(np.sum(in_shell & soft)) * cell**3
    mixed = centres[~(in_shell & soft) & ~not_soft]
    m = int(round(cell / SHELL_QUADRATURE_MM))
    offs = (np.argwhere(np.ones((m, m, m), bool)) + 0.5) * (cell / m) - cell / 2
    for s in range(0, len(mixed), 20000):
        pts = (mixed[s:s + 20000, None, :] + offs[None]).reshape(-1, 3)
        d, _ = tree.query(pts, distance_upper_bound=shell_mm + 0.5, workers=-1)
        pts = pts[d <= shell_mm]
        if len(pts):
            n_soft = np.sum((foot.body_sdf(pts) < 0) & (foot.bone_sdf(pts) >= 0))
            volume_mm3 += float(n_soft) * (cell / m) ** 3
    return volume_mm3 / 1000.0


def _side_truth(foot: FootModel, min_cover_mm: float,
                shell_mm: float) -> tuple[dict[str, Any], SurfaceSamples, np.ndarray]:
    bone, bone_volume_mm3 = _hallux_surface(foot)
    thickness = _thickness(foot, bone)
    metrics = surface_coverage(bone.areas_mm2, thickness, min_cover_mm)
    metrics["soft_tissue_volume_ml"] = _shell_volume_ml(foot, bone, shell_mm)
    metrics["bone_volume_ml"] = bone_volume_mm3 / 1000.0
    frame = hallux_frame(foot)
    region = classify_regions(bone.points_mm, frame)
    metrics["regions"] = regional_coverage(bone.areas_mm2, thickness, region, min_cover_mm)
    metrics["hallux_frame"] = frame.to_json()
    return metrics, bone, thickness


def _material_map(affected: FootModel, healthy: FootModel, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map affected hallux-surface points to the same material points of the healthy hallux.

    Returns the healthy points and a flag telling which points lie on the intact
    (original) bone surface; points on a bone cut have no anatomical counterpart.
    """
    sdfs = np.stack([affected.bone(n).sdf(points) for n in HALLUX_BONES])
    which = np.argmin(np.abs(sdfs), axis=0)
    intact = np.abs(sdfs[which, np.arange(len(points))]) < 0.05
    mapped = np.empty_like(points)
    for i, name in enumerate(HALLUX_BONES):
        sel = which == i
        to_healthy = healthy.bone(name).to_patient @ np.linalg.inv(affected.bone(name).to_patient)
        mapped[sel] = apply_affine(to_healthy, points[sel])
    return mapped, intact


def compute_truth(affected: FootModel, healthy: FootModel, *, min_cover_mm: float = 1.0,
                  shell_mm: float = 5.0) -> dict[str, Any]:
    """SPEC's metrics for both halluces, the comparison, true transforms and landmarks.

    Parameters
    ----------
    affected, healthy : the two foot models (same patient).
    min_cover_mm : thickness below which bone counts as exposed, mm.
    shell_mm : shell around the hallux bone surface for the soft-tissue volume, mm.
    """
    aff_metrics, aff_bone, aff_t = _side_truth(affected, min_cover_mm, shell_mm)
    h_metrics, h_bone, h_t = _side_truth(healthy, min_cover_mm, shell_mm)

    mapped, intact = _material_map(affected, healthy, aff_bone.points_mm)
    _, nearest = cKDTree(h_bone.points_mm).query(mapped)
    deficit = thickness_deficit(aff_bone.areas_mm2, aff_t, h_t[nearest])

    # healthy -> affected rigid transforms (with the reflection, det -1)
    hallux_transform = kabsch(mapped[intact], aff_bone.points_mm[intact], aff_bone.areas_mm2[intact], reflect=True)
    foot_transform = affected.params.foot_to_patient() @ np.linalg.inv(healthy.params.foot_to_patient())
    landmark_residual = {
        name: float(np.linalg.norm(apply_affine(hallux_transform, healthy.landmarks_mm[name][None])[0]
                                   - affected.landmarks_mm[name]))
        for name in ("hallux_tip", "interphalangeal_joint_centre", "proximal_phalanx_base_centre")
    }
    bone_transforms = {
        name: (affected.bone(name).to_patient @ np.linalg.inv(healthy.bone(name).to_patient)).tolist()
        for name in HALLUX_BONES
    }
    return {
        "schema": "bonecover.truth/1",
        "modality": "CT",
        "affected_side": affected.side,
        "min_cover_mm": min_cover_mm,
        "shell_mm": shell_mm,
        "affected": aff_metrics,
        "healthy": h_metrics,
        "comparison": comparison_metrics(aff_metrics, h_metrics, deficit),
        "registration": {
            "hallux_transform": hallux_transform.tolist(),
            "foot_transform": foot_transform.tolist(),
            "hallux_transform_landmark_residual_mm": landmark_residual,
            "bone_transforms": bone_transforms,
        },
        "landmarks": {
            "affected": {k: [float(x) for x in v] for k, v in affected.landmarks_mm.items()},
            "healthy": {k: [float(x) for x in v] for k, v in healthy.landmarks_mm.items()},
        },
        "method": {
            "bone_mesh_mm": BONE_MESH_MM, "skin_mesh_mm": SKIN_MESH_MM,
            "shell_quadrature_mm": SHELL_QUADRATURE_MM,
            "hallux_transform": "area-weighted least-squares orthogonal fit (det -1) of corresponding "
                                "healthy->affected hallux bone-surface points (intact bone only)",
            "correspondence": "same material point of the same phalanx; cut bone maps to the nearest healthy surface",
        },
    }
