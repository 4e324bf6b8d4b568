"""Stage 2: segment one foot into body and bone (soft tissue = body - bone).

Body: the foot's connected tissue (nothing darker than fat), grown to the skin's
partial-volume edge -- half way between the skin and what lies outside it,
measured locally: air, or dressing material such as gauze or foam, which SPEC
counts as outside -- and with enclosed cavities filled. A thin dense layer lying
on the skin (a foil, a metal-coated dressing) is outside too: it is bright like
bone, but bone lies inside the soft tissue (only a wound lets a little of it
through), while a dressing lies outside the soft tissue almost everywhere.
Bone: solid objects -- the cortex (dense, found reliably despite noise after a
light smoothing) with everything it encloses (marrow of any density, fatty marrow
included); a shell open at one end (a bone cut by a wound) still encloses its
cross-sections, so slices are filled along each axis too. Joint spaces are kept open (a narrow dark gap between two
bright bones), so neighbouring bones stay separate objects. Thresholds adapt to
the scan's own soft-tissue HU.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from bonecover.errors import AnalysisError
from bonecover.feet import FootCrop
from bonecover.volume import Volume

log = logging.getLogger(__name__)

__all__ = ["Tissues", "fill_holes_all_ways", "segment_foot", "skin_edge_level_hu"]

AIR_HU = -1000.0
#: Adipose tissue is no darker than this (the usual fat window is -190 to -30 HU);
#: anything darker touching the skin is air or dressing, i.e. outside.
FAT_FLOOR_HU = -190.0
#: Neighbourhood in which the value just outside the skin is looked for, mm.
SKIN_OUTSIDE_REACH_MM = 1.0
#: Brighter than soft tissue by more than this is bone (or other dense material), HU.
BONE_ABOVE_SOFT_HU = 100.0
#: Darker than this (after smoothing) is air, not blurred soft tissue, HU.
AIR_LIKE_HU = -850.0
#: Darker than soft tissue by this (HU, smoothed: beyond its noise): not soft tissue itself.
RIM_BELOW_SOFT_HU = 30.0
#: Brighter than soft tissue by this (HU, smoothed): bone, or a dense layer on the skin.
DENSE_ABOVE_SOFT_HU = 120.0
#: A bright piece outside the soft tissue is bone breaking through a wound when at
#: least this fraction of it touches bright material inside the soft tissue.
BONE_CONTACT_FRACTION = 0.1

#: Cortex is denser than this (after a 0.4 mm smoothing).
CORTEX_SEED_HU = 300.0
SMOOTH_MM = 0.4
#: Gaps narrower than this between bright bone (joint spaces) are kept open, mm.
GAP_WIDTH_MM = 2.6
GAP_CONTRAST_HU = 250.0
#: The bone value a boundary voxel is compared with is the brightest this near, mm.
PEEL_REACH_MM = 0.6


@dataclass(frozen=True, eq=False)
class Tissues:
    """Segmentation of one foot on its crop grid.

    Parameters
    ----------
    side : ``left`` / ``right``.
    ct : HU volume (the crop).
    body : bool volume, bone and soft tissue connected to the foot.
    bone : bool volume, solid bones (cortex and marrow), a subset of ``body``.
    soft_tissue_hu : the scan's soft-tissue attenuation, HU (median).
    skin_level_hu : HU of the skin's partial-volume edge against air.
    outside_material : bool volume, material lying against the skin that counts as
        outside: a dense layer (a foil or coated dressing) and, where the feet touch,
        the other foot; empty for most scans.
    """

    side: str
    ct: Volume
    body: Volume
    bone: Volume
    soft_tissue_hu: float
    skin_level_hu: float
    outside_material: Volume
    notes: tuple[str, ...] = field(default=())


def _fill_holes(mask: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Fill the holes of ``mask``: in 3-D, or in every 2-D slice perpendicular to ``axis``.

    A hole is background not connected to the array's border (within its slice);
    found in one labelling pass, much faster than iterative filling on large volumes.
    """
    if axis is None:
        structure = ndimage.generate_binary_structure(3, 1)
        faces = [0, 1, 2]
    else:
        structure = np.zeros((3, 3, 3), bool)
        centre: list[slice | int] = [slice(None)] * 3
        centre[axis] = 1
        structure[tuple(centre)] = ndimage.generate_binary_structure(2, 1)
        faces = [a for a in range(3) if a != axis]
    labels, _ = ndimage.label(~mask, structure=structure)
    border = set()
    for a in faces:
        for index in (0, -1):
            sl: list[slice | int] = [slice(None)] * 3
            sl[a] = index
            border.update(np.unique(labels[tuple(sl)]).tolist())
    border.discard(0)
    is_border = np.zeros(int(labels.max()) + 1, bool)
    is_border[sorted(border)] = True
    return mask | ((labels > 0) & ~is_border[labels])


def _box_size(reach_mm: float, spacing_kji: np.ndarray) -> tuple[int, ...]:
    """Odd box size (k, j, i) reaching ``reach_mm`` (at least one voxel) each way."""
    reach = np.maximum(np.round(reach_mm / spacing_kji), 1).astype(int)
    return tuple(int(2 * r + 1) for r in reach)


def darkest_within_hu(smooth_hu: np.ndarray, spacing_kji: np.ndarray) -> np.ndarray:
    """Darkest smoothed HU within SKIN_OUTSIDE_REACH_MM of each voxel (what lies outside an edge)."""
    return ndimage.minimum_filter(smooth_hu, size=_box_size(SKIN_OUTSIDE_REACH_MM, spacing_kji))


def skin_edge_level_hu(smooth_hu: np.ndarray, soft_tissue_hu: float, spacing_kji: np.ndarray,
                       bone: np.ndarray | None = None, darkest_near_hu: np.ndarray | None = None) -> np.ndarray:
    """Per-voxel HU of the body's partial-volume edge: half way between the tissue
    inside and the darkest value within SKIN_OUTSIDE_REACH_MM (air, foam, gauze).

    Against skin the inside value is soft tissue, and the level is kept below fat's
    floor so subcutaneous fat is never taken for outside. Given the ``bone`` mask,
    voxels touching it are levelled between the local bone value and air where air
    is that near: exposed bone meets the outside half way between bone and air, far
    above the skin's level (soft tissue next to the bone keeps the skin's level).

    Parameters
    ----------
    smooth_hu : lightly smoothed HU, (k, j, i).
    soft_tissue_hu : the scan's soft-tissue HU.
    spacing_kji : voxel spacing along k, j, i, mm.
    bone : bool mask of bone on the same grid, or None.
    darkest_near_hu : :func:`darkest_within_hu` of ``smooth_hu``, when already computed.
    """
    low = darkest_within_hu(smooth_hu, spacing_kji) if darkest_near_hu is None else darkest_near_hu
    size = _box_size(SKIN_OUTSIDE_REACH_MM, spacing_kji)
    level = np.minimum(0.5 * (soft_tissue_hu + low), FAT_FLOOR_HU)
    if bone is None:
        return level
    # right next to bone, with air within reach, and darker than soft tissue (soft tissue
    # beside the bone, e.g. a crater's wall, keeps the skin's level)
    rim = ndimage.binary_dilation(bone) & ~bone
    rim &= (low < AIR_LIKE_HU) & (smooth_hu < soft_tissue_hu - RIM_BELOW_SOFT_HU)
    if not rim.any():
        return level
    high = ndimage.maximum_filter(np.where(bone, smooth_hu, soft_tissue_hu), size=size)
    return np.where(rim & (high > soft_tissue_hu + BONE_ABOVE_SOFT_HU), 0.5 * (high + low), level)


def fill_holes_all_ways(mask: np.ndarray) -> np.ndarray:
    """Holes of ``mask`` filled in 3-D and in the slices along each axis."""
    filled = _fill_holes(mask)
    for axis in range(3):
        filled |= _fill_holes(mask, axis)
    return filled


def _dense_layer_on_skin(smooth: np.ndarray, tissue: np.ndarray, soft_hu: float,
                         spacing_kji: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bright material lying on the skin (foil, coated dressing, skin marker).

    Bone is enclosed by soft tissue except where a wound lays it bare, so a bright
    piece outside the soft tissue is bone only when a good part of it touches the
    bright material inside (the rest of that bone); a dressing touches it at most
    where the covering is thin. Returns the layer's bright voxels and its core (above
    half height between soft tissue and the layer's local peak: its blurred flank
    towards the skin belongs to the skin).
    """
    bright = tissue & (smooth > soft_hu + DENSE_ABOVE_SOFT_HU)
    reach = tuple(int(2 * np.ceil(1.0 / s) + 1) for s in spacing_kji)
    on_surface = bright & (ndimage.minimum_filter(tissue.view(np.uint8), size=reach) == 0)
    layer = np.zeros_like(tissue)
    if not on_surface.any():
        return layer, layer
    # work on the box around the bright surface material (plus room for the toe around it)
    idx = np.argwhere(on_surface)
    pad = np.ceil(10.0 / spacing_kji).astype(int)
    box = tuple(slice(int(max(a - p, 0)), int(min(b + p + 1, n)))
                for a, b, p, n in zip(idx.min(0), idx.max(0), pad, tissue.shape, strict=True))
    b_bright, b_tissue = bright[box], tissue[box]
    # the soft tissue proper: opened, so the blurred outer flank of a dense layer (a thin
    # halo of soft-tissue-like values around it) does not enclose the layer
    soft_tissue = ndimage.binary_opening(b_tissue & ~b_bright)
    enclosed = fill_holes_all_ways(soft_tissue)
    outer = b_bright & ~enclosed
    labels, n = ndimage.label(outer, structure=np.ones((3, 3, 3), bool))
    if n == 0:
        return layer, layer
    touching = ndimage.binary_dilation(b_bright & enclosed, structure=np.ones((3, 3, 3), bool)) & outer
    size = np.bincount(labels.ravel(), minlength=n + 1)
    contact = np.bincount(labels[touching], minlength=n + 1)
    is_layer = contact < BONE_CONTACT_FRACTION * size
    is_layer[0] = False
    layer[box] = is_layer[labels]
    if not layer.any():
        return layer, layer
    peak = ndimage.maximum_filter(np.where(layer, smooth, soft_hu), size=_box_size(1.0, spacing_kji))
    return layer, layer & (smooth >= 0.5 * (soft_hu + peak))


def _bone_in_box(smooth: np.ndarray, body: np.ndarray, darkest_near: np.ndarray, soft_hu: float,
                 gap_size: tuple[int, ...], peel_size: tuple[int, ...]) -> np.ndarray:
    """Bone within a box that holds every cortex seed with room around it (see segment_foot)."""
    # joint spaces and other narrow gaps between bones: darker than the bone on both
    # sides within a couple of millimetres (a black top-hat); never bone
    closed = ndimage.grey_closing(smooth, size=gap_size)  # separable box: fast on large crops
    gaps = (closed - smooth) > GAP_CONTRAST_HU
    cortex = (smooth > CORTEX_SEED_HU) & body & ~gaps
    # marrow is what the cortex encloses: in 3-D, and slice by slice along each axis
    # (a shell open at one end, e.g. a cut bone, still encloses its cross-sections)
    bone = _fill_holes(fill_holes_all_ways(cortex))
    # the seed threshold is low enough to close thin shells, so its edge lies outside the
    # true one: peel boundary voxels darker than half way between soft tissue and the
    # bone right next to them (the partial-volume edge). Right next to: a cut face of
    # marrow open to a wound is measured against the marrow, not the cortex beside it
    peak = ndimage.maximum_filter(smooth, size=peel_size)
    # and where that face meets air within SKIN_OUTSIDE_REACH_MM (blurred air is not
    # air-dark closer), the edge is half way to air
    below_edge = smooth < 0.5 * (np.where(darkest_near < AIR_LIKE_HU, darkest_near, soft_hu) + peak)
    for _ in range(2):
        boundary = bone & ~ndimage.binary_erosion(bone)
        bone &= ~(boundary & below_edge)
    return _fill_holes(bone)


def segment_foot(crop: FootCrop) -> Tissues:
    """Body and bone masks of one foot (see module docstring)."""
    hu = np.asarray(crop.ct.array, dtype=np.float32)
    spacing_kji = crop.ct.spacing_mm[::-1]
    smooth = ndimage.gaussian_filter(hu, SMOOTH_MM / spacing_kji)
    # the foot's own tissue: nothing darker than fat (gauze and foam lying on it are outside)
    tissue = np.asarray(crop.tissue.array, bool) & (smooth > FAT_FLOOR_HU)
    soft = hu[tissue & (hu > -50) & (hu < 150)]
    if soft.size < 1000:
        raise AnalysisError(f"{crop.side} foot: too little soft tissue between -50 and 150 HU to calibrate on")
    soft_hu = float(np.median(soft))
    layer, layer_core = _dense_layer_on_skin(smooth, tissue, soft_hu, spacing_kji)
    if layer.any():
        tissue &= ~layer
        log.info("%s foot: %.0f mm3 of dense material lying on the skin (foil or coated dressing) counted as outside",
                 crop.side, layer.sum() * crop.ct.voxel_volume_mm3)
    # skin edge: half way between the skin and what lies outside it, reached from the foot's tissue
    skin_level = 0.5 * (AIR_HU + soft_hu)
    darkest_near = darkest_within_hu(smooth, spacing_kji)
    level = skin_edge_level_hu(smooth, soft_hu, spacing_kji, darkest_near_hu=darkest_near)
    near_tissue = ndimage.binary_dilation(tissue, iterations=2)
    # where the feet touch, the other foot's tissue is outside this one's skin
    other_foot = (np.zeros_like(tissue) if crop.other_foot is None
                  else np.asarray(crop.other_foot.array, bool))
    body = tissue | (near_tissue & (smooth > level) & ~layer & ~other_foot)
    body_labels, _ = ndimage.label(body)
    body = body_labels == np.bincount(body_labels[tissue]).argmax()
    body = _fill_holes(body)

    bone = np.zeros_like(body)
    seeds = np.argwhere((smooth > CORTEX_SEED_HU) & body)
    if len(seeds):
        # bone work only on the box around the cortex seeds (about half of the crop), with
        # room for every filter's reach: the masks are the same as on the whole crop
        gap_size = tuple(int(2 * np.floor(GAP_WIDTH_MM / 2 / s) + 1) for s in spacing_kji)
        peel_size = _box_size(PEEL_REACH_MM, spacing_kji)
        pad = np.maximum(np.array(gap_size), np.array(peel_size)) + 1
        box = tuple(slice(int(max(a - p, 0)), int(min(b + p + 1, n)))
                    for a, b, p, n in zip(seeds.min(0), seeds.max(0), pad, body.shape, strict=True))
        bone[box] = _bone_in_box(smooth[box], body[box], darkest_near[box], soft_hu, gap_size,
                                 peel_size)
    bone &= body
    log.debug("%s foot: soft tissue %.0f HU, skin level %.0f HU", crop.side, soft_hu, skin_level)
    geo = crop.ct
    return Tissues(crop.side, geo, geo.with_array(body), geo.with_array(bone), soft_hu, skin_level,
                   geo.with_array(layer_core | other_foot))
