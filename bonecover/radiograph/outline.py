"""SPEC's 2-D coverage numbers from outlines: shared by the phantom truth and the measurement.

An outline is a set of polylines in plane mm (sub-pixel iso-lines of a field);
it is cut into short segments, each with a midpoint and a length, so every
statistic is length-weighted. The margin at a bone-outline point is the distance
in the plane to the nearest outside point: the distance to the body silhouette,
or 0 where the point is itself outside.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial import cKDTree
from skimage import measure

from bonecover.radiograph.image import Image2D
from bonecover.surface import weighted_stats

__all__ = ["Outline", "exposed_band", "iso_outline", "margins", "outline_coverage", "resample_polyline",
           "smooth_polyline"]


class Outline:
    """Segments of one or more polylines (plane mm): midpoints (N, 2), lengths (N,), and
    which polyline each belongs to (N,)."""

    __slots__ = ("lengths_mm", "midpoints_mm", "polylines", "which")

    def __init__(self, polylines: list[np.ndarray]) -> None:
        self.polylines = [np.asarray(p, float) for p in polylines if len(p) >= 2]
        mids, lens, which = [], [], []
        for n, p in enumerate(self.polylines):
            d = np.diff(p, axis=0)
            mids.append(0.5 * (p[1:] + p[:-1]))
            lens.append(np.hypot(d[:, 0], d[:, 1]))
            which.append(np.full(len(d), n))
        self.midpoints_mm = np.concatenate(mids) if mids else np.zeros((0, 2))
        self.lengths_mm = np.concatenate(lens) if lens else np.zeros(0)
        self.which = np.concatenate(which) if which else np.zeros(0, int)

    @property
    def length_mm(self) -> float:
        return float(self.lengths_mm.sum())


def resample_polyline(p: np.ndarray, step_mm: float) -> np.ndarray:
    """Points along polyline ``p`` (N, 2) about every ``step_mm`` (ends kept)."""
    d = np.hypot(*np.diff(p, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(d)])
    if s[-1] <= 0:
        return p[:1]
    t = np.linspace(0.0, s[-1], max(int(np.ceil(s[-1] / step_mm)) + 1, 2))
    return np.stack([np.interp(t, s, p[:, 0]), np.interp(t, s, p[:, 1])], axis=1)


def smooth_polyline(p: np.ndarray, sigma_mm: float, step_mm: float = 0.1) -> np.ndarray:
    """Polyline resampled every ``step_mm`` and smoothed along its length (Gaussian,
    ``sigma_mm``); closed polylines stay closed. Takes pixel noise out of outline lengths."""
    from scipy.ndimage import gaussian_filter1d

    q = resample_polyline(p, step_mm)
    closed = len(p) > 2 and np.allclose(p[0], p[-1])
    if len(q) < 5:
        return q
    if closed:
        inner = q[:-1]
        inner = gaussian_filter1d(inner, sigma_mm / step_mm, axis=0, mode="wrap")
        return np.concatenate([inner, inner[:1]])
    return gaussian_filter1d(q, sigma_mm / step_mm, axis=0, mode="nearest")


def iso_outline(field: Image2D, level: float, *, min_length_mm: float = 0.0, step_mm: float | None = None,
                keep: np.ndarray | None = None) -> Outline:
    """Sub-pixel iso-line ``field == level`` as an :class:`Outline` (plane mm).

    ``field`` values below ``level`` are inside (a signed-distance-like field), or
    use a negated image. Polylines shorter than ``min_length_mm`` are dropped; with
    ``keep`` (a boolean mask of the field's shape) only polylines whose points mostly
    lie on ``keep`` pixels are kept. ``step_mm`` resamples each polyline.
    """
    arr = np.asarray(field.array, float)
    lines = []
    for c in measure.find_contours(arr, level):
        if keep is not None:
            rc = np.clip(np.rint(c).astype(int), 0, np.array(arr.shape) - 1)
            if keep[rc[:, 0], rc[:, 1]].mean() < 0.5:
                continue
        xy = field.index_to_plane(c)
        if step_mm is not None:
            xy = resample_polyline(xy, step_mm)
        lines.append(xy)
    out = Outline(lines)
    if min_length_mm > 0:
        out = Outline([p for p in out.polylines if np.hypot(*np.diff(p, axis=0).T).sum() >= min_length_mm])
    return out


def margins(points_mm: np.ndarray, outside: np.ndarray, silhouette_mm: np.ndarray) -> np.ndarray:
    """Margin (mm) at each point: 0 where ``outside``, else the distance to the nearest
    silhouette point (``silhouette_mm`` (M, 2), densely sampled body outline)."""
    if len(silhouette_mm) == 0:
        return np.where(outside, 0.0, np.inf)
    dist, _ = cKDTree(silhouette_mm).query(points_mm, workers=-1)
    return np.where(outside, 0.0, dist)


def outline_coverage(lengths_mm: np.ndarray, margin_mm: np.ndarray, min_cover_mm: float) -> dict[str, Any]:
    """SPEC's 2-D numbers for one hallux from its outline segments and their margins.

    Returns ``bone_contour_mm``, ``margin_mm`` {mean, median, p05, p95} (length-weighted),
    ``exposed_contour_mm`` (outline length with margin < ``min_cover_mm``) and
    ``covered_fraction``.
    """
    total = float(np.sum(lengths_mm))
    if total <= 0:
        raise ValueError("outline_coverage needs an outline with positive length")
    exposed = float(np.sum(lengths_mm[margin_mm < min_cover_mm]))
    return {
        "bone_contour_mm": total,
        "margin_mm": weighted_stats(np.asarray(margin_mm, float), np.asarray(lengths_mm, float)),
        "exposed_contour_mm": exposed,
        "covered_fraction": 1.0 - exposed / total,
    }


def exposed_band(lengths_mm: np.ndarray, margin_mm: np.ndarray, min_cover_mm: float,
                 uncertainty_mm: float) -> dict[str, float]:
    """The exposed outline length if every margin were ``uncertainty_mm`` longer (``low``; outline
    on or outside the skin line always counts) or shorter (``high``): how much of the answer
    hangs on outline near ``min_cover_mm``.

    Parameters: outline segment lengths and margins (mm), the cover limit and the margin
    uncertainty (mm).
    """
    lengths = np.asarray(lengths_mm, float)
    margin = np.asarray(margin_mm, float)
    return {"low": float(lengths[margin <= max(min_cover_mm - uncertainty_mm, 0.0)].sum()),
            "high": float(lengths[margin < min_cover_mm + uncertainty_mm].sum()),
            "margin_uncertainty_mm": float(uncertainty_mm)}


def soft_tissue_area_mm2(body: np.ndarray, bone_any: np.ndarray, hallux: np.ndarray, spacing_mm: tuple[float, float],
                         shell_mm: float) -> float:
    """Area (mm^2) of soft tissue (body, not bone) within ``shell_mm`` of the hallux bone
    projection, from masks on one grid of ``spacing_mm`` (pixel centres)."""
    from scipy import ndimage

    dist = ndimage.distance_transform_edt(~hallux, sampling=spacing_mm)
    ring = body & ~bone_any & ~hallux & (dist <= shell_mm)
    return float(ring.sum() * spacing_mm[0] * spacing_mm[1])
