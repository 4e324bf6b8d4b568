"""Stage 5 (2-D): SPEC's radiograph metrics for one hallux.

The bone outline is the sub-pixel iso-line of the bone excess at the bone level
around the hallux phalanges; the body silhouette the iso-line of the smoothed
image at the body level, without its pieces along the edge of the exposed field
(where the collimator, not the skin, ends the foot), plus the clefts between
touching toes that the silhouette cannot enter (``cleft``: valleys of the tissue
signal continuing its notches). The margin of each outline segment is the distance
in the plane to the nearest of these points (0 where the segment lies outside the
body); statistics are length-weighted (``outline``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from bonecover.radiograph.cleft import find_clefts
from bonecover.radiograph.hallux import Foot2D, Hallux2D
from bonecover.radiograph.outline import (
    Outline,
    exposed_band,
    iso_outline,
    margins,
    outline_coverage,
    resample_polyline,
    smooth_polyline,
    soft_tissue_area_mm2,
)
from bonecover.radiograph.segment import Segmentation

__all__ = ["MARGIN_UNCERTAINTY_MM", "HalluxMargin", "measure_margin"]

_OUTLINE_SMOOTH_MM = 0.3
#: Clefts between touching toes are looked for this far around the hallux phalanges, mm.
_CLEFT_REACH_MM = 15.0
#: How far a margin near the skin can be off in a projection, mm. Where a wound face cuts bone
#: and skin together their edges merge into one blurred ramp: on the DX phantom the bone outline
#: there was found 0.5-1.5 mm inside and the silhouette 0.2-0.35 mm outside (BENCHMARKS.md).
MARGIN_UNCERTAINTY_MM = 1.0


@dataclass(frozen=True, eq=False)
class HalluxMargin:
    """One hallux's outline, its margins (mm) and SPEC's metrics."""

    outline: Outline
    margin_mm: np.ndarray
    silhouette_mm: np.ndarray
    metrics: dict[str, Any]


def measure_margin(seg: Segmentation, foot: Foot2D, hallux: Hallux2D, *, min_cover_mm: float,
                   shell_mm: float) -> HalluxMargin:
    """Outline, margins and SPEC's 2-D metrics of one hallux (plane mm)."""
    image = seg.smooth
    around = ndimage.binary_dilation(hallux.mask, iterations=3)
    core = ndimage.binary_erosion(ndimage.binary_fill_holes(hallux.mask), iterations=2)
    top = float(seg.excess.max()) + 1.0
    # the outer outline only: the phalanges' interior (marrow, lower excess) is held above the level
    excess = np.where(core, top, np.where(around, seg.excess, float(seg.excess.min()) - 1.0))
    outline = iso_outline(image.with_array(excess), seg.bone_level, min_length_mm=3.0,
                          keep=ndimage.binary_dilation(hallux.mask, iterations=2))
    if outline.length_mm <= 0:
        outline = iso_outline(image.with_array(hallux.mask.astype(np.float32)), 0.5)
    # pixel noise makes an iso-line longer than the edge it follows: smooth over 0.3 mm
    outline = Outline([smooth_polyline(p, _OUTLINE_SMOOTH_MM) for p in outline.polylines])
    near_foot = ndimage.binary_dilation(foot.mask, iterations=3)
    inside_field = ndimage.distance_transform_edt(seg.field) * float(np.mean(image.spacing_mm)) > 1.5
    # this foot alone, in the exposed field (elsewhere air), so the iso-line cannot run along the shutter
    alone = np.where(near_foot & seg.field, np.asarray(image.array, np.float32), np.float32(seg.air_level))
    sil = iso_outline(image.with_array(alone), seg.body_level)
    pts = np.concatenate([resample_polyline(p, 0.05) for p in sil.polylines]) if sil.polylines else np.zeros((0, 2))
    if len(pts):
        rc = np.clip(np.rint(image.plane_to_index(pts)).astype(int), 0, np.array(image.shape) - 1)
        pts = pts[inside_field[rc[:, 0], rc[:, 1]]]
    # where the hallux touches the second toe the silhouette stops short of their cleft:
    # the cleft's valley of the tissue signal is outside too
    reach = _box_around(hallux.mask, _CLEFT_REACH_MM / float(np.mean(image.spacing_mm))) & near_foot & seg.field
    clefts = find_clefts(image, seg.body, seg.bone, air_level=seg.air_level, body_level=seg.body_level,
                         region=reach)
    if len(clefts.points_mm):
        rc = np.clip(np.rint(image.plane_to_index(clefts.points_mm)).astype(int), 0, np.array(image.shape) - 1)
        pts = np.concatenate([pts, clefts.points_mm[inside_field[rc[:, 0], rc[:, 1]]]])
    at_mid = ndimage.map_coordinates(np.asarray(image.array, float), image.plane_to_index(outline.midpoints_mm).T,
                                     order=1)
    m = margins(outline.midpoints_mm, at_mid <= seg.body_level, pts)
    metrics = outline_coverage(outline.lengths_mm, m, min_cover_mm)
    metrics["exposed_contour_band_mm"] = exposed_band(outline.lengths_mm, m, min_cover_mm, MARGIN_UNCERTAINTY_MM)
    metrics["soft_tissue_area_mm2"] = soft_tissue_area_mm2(foot.mask, seg.bone, hallux.mask, image.spacing_mm,
                                                           shell_mm)
    return HalluxMargin(outline, m, pts, metrics)


def _box_around(mask: np.ndarray, pad_px: float) -> np.ndarray:
    """The bounding box of ``mask`` grown by ``pad_px`` pixels on each side, as a mask."""
    out = np.zeros(mask.shape, bool)
    if not mask.any():
        return out
    rows, cols = np.nonzero(mask)
    p = int(np.ceil(pad_px))
    out[max(rows.min() - p, 0):rows.max() + p + 1, max(cols.min() - p, 0):cols.max() + p + 1] = True
    return out
