"""Triangle-mesh surfaces: area elements, enclosed volume, area-weighted statistics.

Shared by the ground truth (meshes of implicit shapes) and by the measurement of
scans (meshes of segmented bone). Vertices are in patient millimetres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SurfaceSamples", "enclosed_volume_mm3", "surface_samples", "weighted_quantile", "weighted_stats"]


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
