"""Stage 2 (2-D): outside, soft tissue and bone on a radiograph with bone bright.

- **field**: the collimation border (shutter) is a band of near-constant extreme
  value along an image edge; rows / columns from the edges that are mostly such
  pixels are outside the exposed field.
- **body**: direct exposure (air) is the darkest large population of the field; its
  level and its noise (after a 1-pixel smoothing) are measured there, and body is
  what is brighter than air by 5 noise standard deviations: a threshold relative to
  air and noise, so exposure, gain and photometric do not matter. Small bright
  islands (burned-in "L"/"R" markers, labels) are not feet.
- **bone**: the excess over a soft-tissue background. The background is a
  normalised Gaussian average of the body alone (air never enters it), so it follows
  the uneven soft-tissue density of a projection (thin toes, thick midfoot); near
  the skin, where the projected thickness falls, the excess is negative, so soft
  tissue at the edge is never taken for bone. (Leaving bone candidates out of the
  average and iterating was tried: the concave soft-tissue profile of a toe then
  grows into the bone set.)
  Bone is an excess above max(6 noise SD, 7 % of the bright bone excess), holes filled
  (12 % put outlines further in and missed more exposed outline on the 30-case phantom
  grid; 5 % began to take soft tissue for bone).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage import filters

from bonecover.errors import InputError
from bonecover.radiograph.image import Image2D

__all__ = ["Segmentation", "segment_radiograph", "soft_tissue_average"]

#: Body components smaller than this are markers or labels, not feet, mm^2.
MIN_FOOT_AREA_MM2 = 2500.0
#: Bone islands smaller than this are noise, mm^2.
MIN_BONE_AREA_MM2 = 4.0
_BACKGROUND_SIGMA_MM = 3.0
_SKIN_OPENING_MM = 3.0
_SKIN_BAND_MM = 2.5
#: Bone level as a fraction of the bright bone excess (99th percentile inside the body).
_BONE_FRACTION = 0.07


@dataclass(frozen=True, eq=False)
class Segmentation:
    """Tissues of one radiograph (all masks share the image's geometry).

    Attributes
    ----------
    smooth : the image after a 1-pixel Gaussian (bone bright).
    field : exposed field of view (True inside the collimation).
    body : the feet (soft tissue and bone), field only, markers removed.
    feet : (rows, cols) int labels of the feet in ``body`` (1..n), 0 elsewhere.
    bone : bone (any bone) within the feet.
    excess : (rows, cols) bone excess over the soft-tissue background (image units).
    air_level, noise_sd : air value and its noise SD in the smoothed image.
    body_level, bone_level : thresholds used for body and bone (image / excess units).
    """

    smooth: Image2D
    field: np.ndarray
    body: np.ndarray
    feet: np.ndarray
    bone: np.ndarray
    excess: np.ndarray
    air_level: float
    noise_sd: float
    body_level: float
    bone_level: float

    @property
    def n_feet(self) -> int:
        return int(self.feet.max())

    @property
    def inner_field(self) -> np.ndarray:
        """The exposed field without its 4-pixel rim: outlines there are the collimator's,
        not the bones' own (left out of registration and figures)."""
        return ndimage.binary_erosion(self.field, iterations=4)


def _edge_bands(candidate: np.ndarray, fraction: float = 0.85) -> np.ndarray:
    """Rows/columns from each image edge where ``candidate`` fills >= ``fraction``."""
    out = np.zeros_like(candidate)
    rows = candidate.mean(axis=1) >= fraction
    cols = candidate.mean(axis=0) >= fraction

    def run(flags: np.ndarray) -> tuple[int, int]:
        n = len(flags)
        a = 0
        while a < n and flags[a]:
            a += 1
        b = 0
        while b < n - a and flags[n - 1 - b]:
            b += 1
        return a, b

    top, bottom = run(rows)
    left, right = run(cols)
    out[:top] = True
    out[candidate.shape[0] - bottom:] = True
    out[:, :left] = True
    out[:, candidate.shape[1] - right:] = True
    return out


def exposed_field(image: np.ndarray) -> np.ndarray:
    """Mask of the exposed field: the image minus shutter bands at its edges.

    Shutter pixels are at either extreme of the value range (the processing shows a
    collimated border white or black), nearly constant.
    """
    lo, hi = np.percentile(image, [0.05, 99.95])
    span = max(float(hi - lo), 1e-6)
    grad = ndimage.gaussian_gradient_magnitude(image.astype(np.float32), 1.0)
    flat = grad < 0.01 * span
    shutter = np.zeros(image.shape, bool)
    for extreme in ((image >= hi - 0.02 * span), (image <= lo + 0.02 * span)):
        shutter |= _edge_bands(extreme & flat | extreme)
    return ~shutter


def _air_and_noise(smooth: np.ndarray, field: np.ndarray) -> tuple[float, float]:
    """Air level and noise SD of the smoothed image, from the darkest population of the field."""
    values = smooth[field]
    if values.size < 100:
        raise InputError("the radiograph's exposed field is empty: no foot found")
    sample = values[:: max(1, values.size // 400_000)]
    t = float(filters.threshold_otsu(sample))
    air = sample[sample < t]
    level = float(np.median(air))
    low = air[air <= np.percentile(air, 60)]  # the flat part of the air, away from skin edges
    sd = float(1.4826 * np.median(np.abs(low - np.median(low))))
    if not np.isfinite(sd) or sd <= 0:
        sd = max(float(np.std(low)), 1e-3)
    return float(np.median(low)) if low.size else level, sd


def soft_tissue_average(smooth: np.ndarray, body: np.ndarray, bone: np.ndarray, sigma_px: float) -> np.ndarray:
    """Normalised Gaussian average (sigma in pixels) of the body without bone: the soft-tissue level."""
    w = (body & ~bone).astype(np.float32)
    num = ndimage.gaussian_filter(smooth * w, sigma_px)
    den = ndimage.gaussian_filter(w, sigma_px)
    with np.errstate(invalid="ignore", divide="ignore"):
        bg = np.where(den > 1e-3, num / np.maximum(den, 1e-6), 0.0)
    return bg.astype(np.float32)


def segment_radiograph(image: Image2D) -> Segmentation:
    """Field, body (feet) and bone of a radiograph with bone bright.

    Raises
    ------
    InputError
        No foot in the image.
    """
    arr = np.asarray(image.array, np.float32)
    smooth = ndimage.gaussian_filter(arr, 1.0)
    field = exposed_field(arr)
    # the field's rim is partly shutter blur: keep 0.6 mm (at least 2 pixels) from it
    rim = max(2, int(round(0.6 / float(np.mean(image.spacing_mm)))))
    field = ndimage.binary_erosion(field, iterations=rim)
    air, sd = _air_and_noise(smooth, field)
    body_level = air + 5.0 * sd
    body = (smooth > body_level) & field
    body = ndimage.binary_opening(body, iterations=1)
    labels, n = ndimage.label(body)
    if n == 0:
        raise InputError("no foot found in the radiograph (nothing brighter than air in the exposed field)")
    areas = ndimage.sum_labels(np.ones_like(labels), labels, np.arange(1, n + 1)) * image.pixel_area_mm2
    # a burned-in marker or label is small and nearly saturated; feet are large. A frame of
    # shutter blur left along the field's edge reaches three or four of its sides: not a foot
    rows, cols = np.nonzero(field)
    box = (rows.min(), rows.max(), cols.min(), cols.max())
    found = ndimage.find_objects(labels)
    sides = np.array([sum((sl[0].start <= box[0] + 3, sl[0].stop - 1 >= box[1] - 3,
                           sl[1].start <= box[2] + 3, sl[1].stop - 1 >= box[3] - 3)) for sl in found])
    keep = np.nonzero((areas >= MIN_FOOT_AREA_MM2) & (sides < 3))[0] + 1
    if len(keep) == 0:
        raise InputError(f"no foot found in the radiograph: the largest object is {areas.max():.0f} mm2 "
                         f"(a foot is over {MIN_FOOT_AREA_MM2:.0f} mm2); is this a foot radiograph?")
    body = np.isin(labels, keep)
    body = ndimage.binary_fill_holes(body)
    feet, _ = ndimage.label(body)

    px = float(np.mean(image.spacing_mm))
    bg = soft_tissue_average(smooth, body, np.zeros_like(body), _BACKGROUND_SIGMA_MM / px)
    excess = np.where(body, smooth - bg, 0.0).astype(np.float32)
    excess = _near_skin(excess, smooth, body, px)
    level = _bone_level(excess, body, sd)
    bone = ndimage.binary_fill_holes(excess > level) & body
    bl, nb = ndimage.label(bone)
    if nb:
        b_areas = ndimage.sum_labels(np.ones_like(bl), bl, np.arange(1, nb + 1)) * image.pixel_area_mm2
        bone = np.isin(bl, np.nonzero(b_areas >= MIN_BONE_AREA_MM2)[0] + 1)
    return Segmentation(image.with_array(smooth), field, body, feet, bone, excess,
                        air, sd, body_level, level)


def _near_skin(excess: np.ndarray, smooth: np.ndarray, body: np.ndarray, px: float) -> np.ndarray:
    """Within 2.5 mm of the skin, the larger of ``excess`` and the white top-hat of the body.

    The Gaussian average is one-sided at the skin (air is left out), so a bone that
    reaches the skin (exposed) is averaged with itself and vanishes. A grey opening
    (3 mm square, inside the body only) follows the skin's monotone ramp but removes a
    bone tip lying against the skin; its residue shows that bone.
    """
    size = max(3, int(round(_SKIN_OPENING_MM / px)) | 1)
    big = np.float32(np.abs(smooth).max() * 4 + 1)
    eroded = ndimage.minimum_filter(np.where(body, smooth, big), size=size)
    opened = ndimage.maximum_filter(np.where(eroded < big, eroded, -big), size=size)
    tophat = np.where(body, smooth - np.maximum(opened, 0.0 * opened - big), 0.0)
    depth = ndimage.distance_transform_edt(body) * px
    w = np.clip((_SKIN_BAND_MM - depth) / 1.0, 0.0, 1.0)
    return np.where(body, (1 - w) * excess + w * np.maximum(excess, tophat), 0.0).astype(np.float32)


def _bone_level(excess: np.ndarray, body: np.ndarray, sd: float) -> float:
    """Bone threshold: above noise, and a fixed fraction of the bright bone excess."""
    inner = excess[ndimage.binary_erosion(body, iterations=3)]
    if inner.size == 0:
        return 6.0 * sd
    top = float(np.percentile(inner, 99.0))
    return max(6.0 * sd, _BONE_FRACTION * top)
