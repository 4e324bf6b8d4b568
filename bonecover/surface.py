"""Triangle-mesh surfaces: area elements, enclosed volume, area-weighted statistics.

Shared by the ground truth (meshes of implicit shapes) and by the measurement of
scans (meshes of segmented bone). Vertices are in patient millimetres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    "SurfaceSamples",
    "distance_to_mesh",
    "enclosed_volume_mm3",
    "surface_samples",
    "weighted_quantile",
    "weighted_stats",
]


@dataclass(frozen=True, eq=False)
class SurfaceSamples:
    """A surface as area elements: one point (triangle centroid) per triangle.

    Parameters
    ----------
    points_mm : (N, 3) triangle centroids, LPS mm.
    areas_mm2 : (N,) triangle areas, mm^2.
    normals : (N, 3) unit outward normals.
    """

    points_mm: np.ndarray
    areas_mm2: np.ndarray
    normals: np.ndarray

    @property
    def total_area_mm2(self) -> float:
        return float(self.areas_mm2.sum())


def surface_samples(verts_mm: np.ndarray, faces: np.ndarray) -> SurfaceSamples:
    """Centroids, areas and unit normals of the triangles of a mesh.

    Parameters
    ----------
    verts_mm : (V, 3) vertex positions, mm.
    faces : (F, 3) vertex indices, counter-clockwise seen from outside.
    """
    a, b, c = (verts_mm[faces[:, i]] for i in range(3))
    cross = np.cross(b - a, c - a)
    double_area = np.linalg.norm(cross, axis=1)
    keep = double_area > 0
    normals = cross[keep] / double_area[keep, None]
    return SurfaceSamples(((a + b + c) / 3.0)[keep], 0.5 * double_area[keep], normals)


def enclosed_volume_mm3(verts_mm: np.ndarray, faces: np.ndarray) -> float:
    """Volume enclosed by a closed, consistently oriented mesh (divergence theorem), mm^3."""
    a, b, c = (verts_mm[faces[:, i]] for i in range(3))
    return float(abs(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0))


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float | np.ndarray) -> np.ndarray:
    """Quantile(s) ``q`` in [0, 1] of ``values`` weighted by ``weights`` (e.g. areas).

    Uses the midpoint rule on the cumulative weight, so equal weights reproduce the
    usual interpolated quantile closely.
    """
    values = np.asarray(values, float)
    weights = np.asarray(weights, float)
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cum = np.cumsum(w) - 0.5 * w
    cum /= w.sum()
    return np.interp(q, cum, v)


def weighted_stats(values: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """Area-weighted mean, median, 5th and 95th percentile of ``values``."""
    p05, median, p95 = weighted_quantile(values, weights, np.array([0.05, 0.5, 0.95]))
    return {
        "mean": float(np.average(values, weights=weights)),
        "median": float(median),
        "p05": float(p05),
        "p95": float(p95),
    }


def _closest_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Closest point to each p on triangle (a, b, c), all (N, 3) (Ericson, RTCD 5.1.5)."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = np.einsum("ij,ij->i", ab, ap), np.einsum("ij,ij->i", ac, ap)
    bp = p - b
    d3, d4 = np.einsum("ij,ij->i", ab, bp), np.einsum("ij,ij->i", ac, bp)
    cp = p - c
    d5, d6 = np.einsum("ij,ij->i", ab, cp), np.einsum("ij,ij->i", ac, cp)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    denom = va + vb + vc
    denom = np.where(np.abs(denom) < 1e-30, 1e-30, denom)
    v = vb / denom
    w = vc / denom
    result = a + ab * v[:, None] + ac * w[:, None]  # interior
    with np.errstate(divide="ignore", invalid="ignore"):
        # edges
        t_ab = d1 / (d1 - d3)
        on_ab = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
        t_ac = d2 / (d2 - d6)
        on_ac = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        on_bc = (va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0)
    result = np.where(on_bc[:, None], b + (c - b) * np.nan_to_num(t_bc)[:, None], result)
    result = np.where(on_ac[:, None], a + ac * np.nan_to_num(t_ac)[:, None], result)
    result = np.where(on_ab[:, None], a + ab * np.nan_to_num(t_ab)[:, None], result)
    # vertices
    result = np.where(((d6 >= 0) & (d5 <= d6))[:, None], c, result)
    result = np.where(((d3 >= 0) & (d4 <= d3))[:, None], b, result)
    result = np.where(((d1 <= 0) & (d2 <= 0))[:, None], a, result)
    return result


def distance_to_mesh(points: np.ndarray, verts: np.ndarray, faces: np.ndarray, *, k: int = 8) -> np.ndarray:
    """Euclidean distance (mm) from (N, 3) points to a triangle mesh (exact point-to-triangle
    distance over the ``k`` triangles with the nearest centroids)."""
    a, b, c = (verts[faces[:, i]] for i in range(3))
    tree = cKDTree((a + b + c) / 3.0)
    _, cand = tree.query(points, k=k, workers=-1)
    best = np.full(len(points), np.inf)
    for j in range(k):
        t = cand[:, j]
        q = _closest_on_triangles(points, a[t], b[t], c[t])
        best = np.minimum(best, np.linalg.norm(points - q, axis=1))
    return best
