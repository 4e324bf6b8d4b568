"""Clefts between touching toes on a radiograph: valleys of the soft-tissue signal.

Where two toes lie side by side in a DP projection, the air between them can be
narrower than the image resolution (or absent where the skins touch), so the body
silhouette (air + 5 noise SD) does not enter the cleft. The projection still shows
it: a toe is roughly a cylinder, its tissue chord falls like sqrt(distance from its
edge), so two toes side by side give a sharp **valley** of the tissue signal along
the line where they meet, whose floor is near air even when it never reaches air.

A pixel is on a cleft when

- it is body and not bone (bone is replaced by the soft tissue around it, so the gap
  between two phalanges, a joint space, is not a valley);
- it is a valley point (Steger): the tissue signal has its largest curvature across
  a line there, and its minimum along that direction lies within half a pixel;
- the valley is **deep**: its floor is within ``1 - DEPTH`` of the shoulders on
  both sides, measured as the grey closing of the tissue signal over a 5 mm square
  (closing fills valleys narrower than the square), all relative to air;
- its line **continues the silhouette's cleft**: the connected valley line reaches
  air (the end of the silhouette's notch between the toes).

The forefoot's tissue between the metatarsals and the web proximal to the cleft
are thick compared to the toes beside them (a shallow valley or none), and toes
well apart leave air between them (no body pixel there): neither is cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from bonecover.radiograph.image import Image2D
from bonecover.radiograph.segment import soft_tissue_average

__all__ = ["CleftLines", "DEPTH", "find_clefts"]

#: A valley whose floor lies below (1 - DEPTH) of its shoulders (above air) starts a cleft
#: where it leaves the silhouette's notch. On the DX phantom grid (0.1-0.2 mm pixels) a
#: hallux touching the second toe gives 0.6-0.9 there (blur keeps the floor above air).
DEPTH = 0.6
#: A cleft's line continues (hysteresis) while its valley stays this deep: where the toes
#: press together over a short stretch the floor rises (0.3-0.45 on the phantom) and the
#: cleft resumes beyond; the forefoot and the web past the cleft's end stay under 0.2.
#: Toes joined over 3 mm (synthetic test) are cut at most 2 mm past the notch.
DEPTH_CONTINUE = 0.25
#: Side of the square over which the shoulders are taken (grey closing), mm.
_SHOULDER_MM = 5.0
#: Smoothing of the tissue signal for its curvature, mm (at least one pixel).
_CURVATURE_SIGMA_MM = 0.4
#: Bone is replaced by the soft tissue around it, averaged over this Gaussian, mm.
_INPAINT_SIGMA_MM = 3.0
#: Valley lines shorter than this are noise, mm.
_MIN_LINE_MM = 1.0


@dataclass(frozen=True, eq=False)
class CleftLines:
    """Valley lines between touching toes.

    Attributes
    ----------
    points_mm : (K, 2) plane (x, y) mm of the valley floor (sub-pixel), K may be 0.
    depth : (K,) relative depth of the valley at each point (0-1).
    """

    points_mm: np.ndarray
    depth: np.ndarray


def _tissue(signal: np.ndarray, body: np.ndarray, bone: np.ndarray, sigma_px: float) -> np.ndarray:
    """Signal above air with bone replaced by the normalised Gaussian average of the body around it."""
    fill = soft_tissue_average(signal, body, bone, sigma_px)
    return np.where(bone, fill, np.where(body, signal, np.minimum(signal, 0.0))).astype(np.float32)


def _valley_points(t: np.ndarray, sigma_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Steger valley test: mask of pixels whose minimum across the valley lies within half a
    pixel, and the (rows, cols, 2) sub-pixel offset (row, col) of that minimum."""
    g = ndimage.gaussian_filter(t, sigma_px, mode="nearest")
    gr = np.gradient(g, axis=0)
    gc = np.gradient(g, axis=1)
    hrr = np.gradient(gr, axis=0)
    hcc = np.gradient(gc, axis=1)
    hrc = 0.5 * (np.gradient(gr, axis=1) + np.gradient(gc, axis=0))
    half = 0.5 * (hrr - hcc)
    lam = 0.5 * (hrr + hcc) + np.sqrt(half * half + hrc * hrc)  # the larger curvature
    # its eigenvector (across the valley); the two forms are stable for different orientations
    a = np.stack([hrc, lam - hrr], axis=-1)
    b = np.stack([lam - hcc, hrc], axis=-1)
    n = np.where((np.abs(hrr) <= np.abs(hcc))[..., None], a, b)
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    n = np.where(norm > 0, n / np.maximum(norm, 1e-12), 0.0)
    slope = gr * n[..., 0] + gc * n[..., 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(lam > 0, -slope / lam, np.inf)
    ok = (lam > 0) & (np.abs(s) <= 0.5)
    return ok, np.where(ok, s, 0.0)[..., None] * n


def find_clefts(image: Image2D, body: np.ndarray, bone: np.ndarray, *, air_level: float, body_level: float,
                region: np.ndarray | None = None, depth: float = DEPTH,
                depth_continue: float = DEPTH_CONTINUE) -> CleftLines:
    """Valley lines of the soft-tissue signal that continue the silhouette's clefts (plane mm).

    Parameters
    ----------
    image : the smoothed radiograph (bone bright), plane geometry.
    body, bone : (rows, cols) masks of the body and of bone (any bone).
    air_level, body_level : the air value and the body threshold (image units).
    region : (rows, cols) mask where clefts are looked for (all of ``body`` when None);
        it is cropped to its bounding box first.
    depth : smallest relative depth (1 - floor / shoulders, above air) where a cleft leaves air.
    depth_continue : smallest relative depth along the rest of its line.
    """
    px = float(np.mean(image.spacing_mm))
    where = body if region is None else region & body
    empty = CleftLines(np.zeros((0, 2)), np.zeros(0))
    if not where.any():
        return empty
    rows, cols = np.nonzero(where)
    pad = int(np.ceil(_SHOULDER_MM / px)) + 4
    r0, r1 = max(rows.min() - pad, 0), min(rows.max() + pad + 1, image.shape[0])
    c0, c1 = max(cols.min() - pad, 0), min(cols.max() + pad + 1, image.shape[1])
    crop = image.crop(slice(r0, r1), slice(c0, c1))
    body_c = body[r0:r1, c0:c1]
    bone_c = bone[r0:r1, c0:c1] & body_c
    # bone's edge is blurred: replace a pixel more than the mask
    bone_c = ndimage.binary_dilation(bone_c, iterations=max(1, int(round(0.3 / px))))
    signal = np.asarray(crop.array, np.float32) - np.float32(air_level)
    t = _tissue(signal, body_c, bone_c, _INPAINT_SIGMA_MM / px)
    size = max(3, int(round(_SHOULDER_MM / px)) | 1)
    shoulders = ndimage.grey_closing(t, size=(size, size))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(shoulders > 0, 1.0 - np.maximum(t, 0.0) / shoulders, 0.0)
    valley, offset = _valley_points(t, max(1.0, _CURVATURE_SIGMA_MM / px))
    inside = body_c & ~bone_c & (np.asarray(crop.array) > body_level)
    line = valley & inside & (rel >= depth_continue) & where[r0:r1, c0:c1]
    if not line.any():
        return empty
    # a cleft's line reaches air (the silhouette's notch) where it is deep; valleys inside
    # the tissue are not clefts. Steger's points are one pixel wide with pixel-sized breaks:
    # bridge them before following the line
    outside = ~body_c | (np.asarray(crop.array) <= body_level)
    touch = ndimage.binary_dilation(outside, iterations=2)
    labels, n = ndimage.label(ndimage.binary_dilation(line, iterations=1), structure=np.ones((3, 3), bool))
    labels = np.where(line, labels, 0)
    idx = np.arange(1, n + 1)
    reaches = ndimage.maximum(touch & (rel >= depth), labels, idx).astype(bool)
    count = ndimage.sum_labels(line, labels, idx)
    keep = idx[reaches & (count * px >= _MIN_LINE_MM)]
    on = np.isin(labels, keep)
    rc = np.argwhere(on).astype(float) + offset[on]
    return CleftLines(crop.index_to_plane(rc), rel[on].astype(float))
