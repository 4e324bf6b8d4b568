"""Stage 1: find the feet in a CT volume, tell left from right, crop each one.

Works on calibrated HU: tissue is anything denser than ``TISSUE_HU`` (fat and
denser), which leaves out air, foam cushions and dry dressings. A connected piece
of tissue is a foot when it holds dense bone (cortex); foot rests, tables and
cushions hold none. Sides come from patient coordinates (+x is the patient's
left), or from the series' Laterality when it shows one foot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from bonecover.errors import InputError
from bonecover.volume import Volume

log = logging.getLogger(__name__)

__all__ = ["FootCrop", "split_feet"]

#: Denser than this is tissue (fat is about -100 HU; foam and dry gauze are lighter).
TISSUE_HU = -250.0
#: Cortical bone is denser than this.
CORTEX_HU = 600.0
#: A foot has at least this much tissue and this much cortex.
MIN_FOOT_ML = 20.0
MIN_CORTEX_ML = 0.5


@dataclass(frozen=True, eq=False)
class FootCrop:
    """One foot cut out of the scan.

    Parameters
    ----------
    side : ``left`` or ``right`` (patient side).
    ct : HU volume cropped around the foot (geometry kept).
    tissue : boolean volume on the same grid: this foot's connected tissue (other
        feet, foot rests and cushions excluded).
    how : how the side was decided, for the report.
    """

    side: str
    ct: Volume
    tissue: Volume
    how: str


def _bbox(mask: np.ndarray, margin_vox: np.ndarray, shape: tuple[int, ...]) -> tuple[slice, slice, slice]:
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(axis=0) - margin_vox, 0)
    hi = np.minimum(idx.max(axis=0) + margin_vox + 1, shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))  # type: ignore[return-value]


def split_feet(ct: Volume, *, laterality: str | None = None, margin_mm: float = 8.0,
               source: str = "the scan") -> tuple[FootCrop, ...]:
    """Find the feet in ``ct`` (HU) and crop each with ``margin_mm``.

    Parameters
    ----------
    ct : CT volume in HU with its patient geometry.
    laterality : ``L``/``R`` (or left/right) when the series shows a single foot.
    margin_mm : margin around each foot's tissue in the crop, mm.
    source : name of the input, for messages.

    Returns
    -------
    The feet found, sorted right then left.
    """
    hu = np.asarray(ct.array)
    tissue = hu > TISSUE_HU
    labels, n = ndimage.label(tissue)
    if n == 0:
        raise InputError(f"no tissue denser than {TISSUE_HU:.0f} HU in {source}; is it a CT of the feet in HU?")
    voxel_ml = ct.voxel_volume_mm3 / 1000.0
    sizes = np.bincount(labels.ravel(), minlength=n + 1) * voxel_ml
    cortex = np.bincount(labels[hu > CORTEX_HU], minlength=n + 1) * voxel_ml
    feet = [i for i in range(1, n + 1) if sizes[i] >= MIN_FOOT_ML and cortex[i] >= MIN_CORTEX_ML]
    if not feet:
        raise InputError(
            f"no foot found in {source}: no piece of tissue holds at least {MIN_CORTEX_ML} mL of bone denser "
            f"than {CORTEX_HU:.0f} HU; check the series is a CT of the feet")
    feet.sort(key=lambda i: -sizes[i])
    # a piece much smaller than the largest is a fragment (a toe cut by the field of view)
    feet = [i for i in feet if sizes[i] >= 0.2 * sizes[feet[0]]]
    if len(feet) > 2:
        log.warning("%d pieces of bone-bearing tissue in %s; keeping the two largest", len(feet), source)
        feet = feet[:2]
    margin_vox = np.ceil(margin_mm / ct.spacing_mm[::-1]).astype(int)
    crops = []
    for i in feet:
        mask = labels == i
        k, j, ii = (np.mean(a) for a in np.nonzero(mask))
        x_mm = float(ct.index_to_world(np.array([[ii, j, k]]))[0, 0])
        crops.append((i, mask, x_mm))
    result = []
    if len(crops) == 2:
        (ia, ma, xa), (ib, mb, xb) = sorted(crops, key=lambda c: c[2])
        assigned = [("right", ma, f"lower patient x ({xa:.0f} mm) than the other foot ({xb:.0f} mm)"),
                    ("left", mb, f"higher patient x ({xb:.0f} mm) than the other foot ({xa:.0f} mm)")]
    else:
        side = _side_from_laterality(laterality)
        if side is None:
            raise InputError(
                f"one foot found in {source} and its series has no Laterality; say which foot it is "
                "(one series per foot needs Laterality L/R, or use --affected-side with a two-foot scan)")
        assigned = [(side, crops[0][1], f"series Laterality {laterality}")]
    for side, mask, how in assigned:
        box = _bbox(mask, margin_vox, hu.shape)
        cropped = ct.crop(*box)
        result.append(FootCrop(side, cropped, cropped.with_array(mask[box]), how))
        log.info("%s foot: %s", side, how)
    return tuple(result)


def _side_from_laterality(laterality: str | None) -> str | None:
    if laterality is None:
        return None
    value = laterality.strip().upper()
    return {"L": "left", "LEFT": "left", "R": "right", "RIGHT": "right"}.get(value)
