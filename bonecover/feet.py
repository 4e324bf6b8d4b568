"""Stage 1: find the feet in a CT volume, tell left from right, crop each one.

Works on calibrated HU: tissue is anything denser than ``TISSUE_HU`` (fat and
denser), which leaves out air, foam cushions and dry dressings. A connected piece
of tissue is a foot when it holds dense bone (cortex); foot rests, tables and
cushions hold none. Feet that touch (patients lie with their feet together) form
one piece of tissue but never share bone: a foot's bones lie within a joint space
of each other, while two feet's bones are kept apart by two layers of skin and
fat. So when a scan must show both feet and one piece holds them, its bone is
grouped by proximity (single linkage, the two groups farthest apart; they must
lie side by side, their centres at least MIN_FEET_APART_X_MM apart in patient x,
or they are the rays of one foot), and each tissue voxel goes to the foot whose
bone is nearer: where two feet touch, their skins meet about half way between
their bones (a patient's two feet are mirror images, with about the same soft
tissue over the same bones; a depth watershed, tried first, put the cut at the
far side of the contact patch, where the tissue between two pressed halluces is
deepest). Sides come from patient coordinates (+x is the patient's left), or
from the series' Laterality when it shows one foot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage
from scipy.spatial import cKDTree

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
#: Bones closer than this belong to one group (joint spaces are narrower), mm.
BONE_GROUP_GAP_MM = 3.0
#: Each of two touching feet holds at least this share of the piece's cortex.
MIN_FOOT_CORTEX_SHARE = 0.2
#: A sliver of the other foot at a single-foot series' edge holds less than this share of the bone.
SLIVER_CORTEX_SHARE = 0.15
#: Two feet side by side have their bone centres this far apart in patient x at least
#: (a child's forefeet pressed together); a single foot's rays are closer, mm.
MIN_FEET_APART_X_MM = 45.0


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
    other_foot : boolean volume on the same grid: tissue of the other foot where the
        two touch (outside this foot's skin); None when the feet do not touch.
    notes : what the reader should know (tissue left out), for the report's warnings.
    """

    side: str
    ct: Volume
    tissue: Volume
    how: str
    other_foot: Volume | None = None
    notes: tuple[str, ...] = ()


def _bbox(mask: np.ndarray, margin_vox: np.ndarray, shape: tuple[int, ...]) -> tuple[slice, slice, slice]:
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(axis=0) - margin_vox, 0)
    hi = np.minimum(idx.max(axis=0) + margin_vox + 1, shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))  # type: ignore[return-value]


def split_feet(ct: Volume, *, laterality: str | None = None, margin_mm: float = 8.0,
               source: str = "the scan", both_feet: bool = False) -> tuple[FootCrop, ...]:
    """Find the feet in ``ct`` (HU) and crop each with ``margin_mm``.

    Parameters
    ----------
    ct : CT volume in HU with its patient geometry.
    laterality : ``L``/``R`` (or left/right) when the series shows a single foot.
    margin_mm : margin around each foot's tissue in the crop, mm.
    source : name of the input, for messages.
    both_feet : the scan must show both feet (one input for the whole comparison):
        one piece of tissue holding them is cut between them. Without it one piece
        is one foot.

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
    cortex_mask = hu > CORTEX_HU
    cortex = np.bincount(labels[cortex_mask], minlength=n + 1) * voxel_ml
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
    masks: list[np.ndarray] = [labels == i for i in feet]
    touching = False
    if len(masks) == 1 and both_feet and _side_from_laterality(laterality) is None:
        masks, touching = list(_split_touching(ct, masks[0], cortex_mask & masks[0], source=source)), True
        log.info("the two feet touch in %s: cut between them along the contact of the skins", source)
    notes: tuple[str, ...] = ()
    if len(masks) == 1 and not touching:
        kept = _without_other_foot_sliver(ct, masks[0], cortex_mask & masks[0])
        if kept is not masks[0]:
            # no path in the note: it reaches the report, and folder names often carry patient names
            note = (f"left out {(masks[0].sum() - kept.sum()) * voxel_ml:.0f} mL of tissue at the edge of the field "
                    "across the feet that holds a little bone of the other foot")
            log.warning("%s: %s", source, note)
            notes, masks = (note,), [kept]
    margin_vox = np.ceil(margin_mm / ct.spacing_mm[::-1]).astype(int)
    crops = []
    for mask in masks:
        k, j, ii = (np.mean(a) for a in np.nonzero(mask))
        x_mm = float(ct.index_to_world(np.array([[ii, j, k]]))[0, 0])
        crops.append((mask, x_mm))
    assigned: list[tuple[str, np.ndarray, np.ndarray | None, str]]
    if len(crops) == 2:
        (ma, xa), (mb, xb) = sorted(crops, key=lambda c: c[1])
        assigned = [("right", ma, mb, f"lower patient x ({xa:.0f} mm) than the other foot ({xb:.0f} mm)"),
                    ("left", mb, ma, f"higher patient x ({xb:.0f} mm) than the other foot ({xa:.0f} mm)")]
        if touching:
            assigned = [(s, m, o, h + "; the feet touch and were cut apart") for s, m, o, h in assigned]
    else:
        side = _side_from_laterality(laterality)
        if side is None:
            raise InputError(
                f"one foot found in {source} and its series has no Laterality; say which foot it is "
                "(one series per foot needs Laterality L/R, or use --affected-side with a two-foot scan)")
        assigned = [(side, crops[0][0], None, f"series Laterality {laterality}")]
    result = []
    for side, mask, other, how in assigned:
        box = _bbox(mask, margin_vox, hu.shape)
        cropped = ct.crop(*box)
        other_foot = cropped.with_array(other[box]) if touching and other is not None else None
        result.append(FootCrop(side, cropped, cropped.with_array(mask[box]), how, other_foot, notes))
        log.info("%s foot: %s", side, how)
    return tuple(result)


def _bone_groups(cortex: np.ndarray, spacing_kji: np.ndarray, voxel_ml: float) -> list[np.ndarray]:
    """Cortex voxel indices grouped into the two sets farthest apart (single linkage).

    Bones within BONE_GROUP_GAP_MM of each other are one group first (a foot's bones
    touch across joint spaces); groups are then merged nearest first until two remain.
    """
    reach = np.maximum(np.round(BONE_GROUP_GAP_MM / 2 / spacing_kji), 1).astype(int)
    grown = ndimage.binary_dilation(cortex, structure=np.ones(tuple(2 * r + 1 for r in reach), bool))
    labels, n = ndimage.label(grown)
    labels = np.where(cortex, labels, 0)
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    # fragments (a sesamoid, a calcification) do not decide where a foot is
    keep = [i for i in range(1, n + 1) if counts[i] * voxel_ml >= 0.05]
    if len(keep) < 2:
        return []
    points = {i: np.argwhere(labels == i) * spacing_kji for i in keep}
    members = {i: [i] for i in keep}
    trees = {i: cKDTree(p[:: max(1, len(p) // 3000)]) for i, p in points.items()}
    while len(members) > 2:
        best = None
        roots = list(members)
        for a_i, a in enumerate(roots):
            for b in roots[a_i + 1:]:
                d = _group_distance(members[a], members[b], trees, points)
                if best is None or d < best[0]:
                    best = (d, a, b)
        assert best is not None
        _, a, b = best
        members[a] += members.pop(b)
    return [np.concatenate([np.argwhere(labels == i) for i in group]) for group in members.values()]


def _group_distance(a: list[int], b: list[int], trees: dict[int, cKDTree], points: dict[int, np.ndarray]) -> float:
    """Smallest distance between the cortex of two groups of bone pieces, mm."""
    return min(float(trees[x].query(points[y][:: max(1, len(points[y]) // 3000)], k=1)[0].min())
               for x in a for y in b)


def _nearest_bone_owner(piece: np.ndarray, groups: list[np.ndarray], spacing_kji: np.ndarray) -> np.ndarray:
    """1 or 2 for each voxel of ``piece``: which bone group is nearer (0 outside), pieces cut
    off from their own bone given to the foot they are attached to."""
    distances = []
    for group in groups:
        marker = np.zeros(piece.shape, np.uint8)
        marker[tuple(group.T)] = 1
        image = sitk.GetImageFromArray(marker)
        image.SetSpacing(tuple(float(v) for v in spacing_kji[::-1]))
        distances.append(sitk.GetArrayFromImage(sitk.SignedMaurerDistanceMap(
            image, insideIsPositive=False, squaredDistance=False, useImageSpacing=True)))
    owner = np.where(distances[0] <= distances[1], 1, 2).astype(np.uint8)
    owner[~piece] = 0
    for value, group in zip((1, 2), groups, strict=True):
        pieces, n = ndimage.label(owner == value)
        if n > 1:
            seeded = np.unique(pieces[tuple(group.T)])
            owner[(pieces > 0) & ~np.isin(pieces, seeded[seeded > 0])] = 3 - value
    return owner


def _without_other_foot_sliver(ct: Volume, piece: np.ndarray, cortex: np.ndarray) -> np.ndarray:
    """One foot's tissue without a sliver of the other foot cut by the series' side edge.

    A series made for one foot of a patient lying with the feet together often holds
    the edge of the other foot: a little bone (under SLIVER_CORTEX_SHARE of the
    piece's), touching the edge of the field across the feet (patient left-right), and
    attached through the skin. Left in, its bone lies medial of the hallux and can be
    taken for it. The tissue nearer that bone is left out.
    """
    spacing_kji = ct.spacing_mm[::-1]
    box = _bbox(piece, np.ones(3, int), piece.shape)
    groups = _bone_groups(cortex[box], spacing_kji, ct.voxel_volume_mm3 / 1000.0)
    if len(groups) != 2:
        return piece
    small, large = sorted(groups, key=len)
    if len(small) >= SLIVER_CORTEX_SHARE * (len(small) + len(large)):
        return piece
    # the index axis that runs most along patient left-right, and the field's edges on it
    across = int(np.argmax(np.abs(ct.direction[0])))  # i, j or k
    axis_kji = 2 - across
    offset = np.array([b.start for b in box])
    at = small[:, axis_kji] + offset[axis_kji]
    if not (np.any(at == 0) or np.any(at == piece.shape[axis_kji] - 1)):
        return piece
    owner = _nearest_bone_owner(piece[box], [large, small], spacing_kji)
    kept = piece.copy()
    kept[box] = piece[box] & (owner == 1)
    return kept


def _split_touching(ct: Volume, piece: np.ndarray, cortex: np.ndarray, *,
                    source: str) -> tuple[np.ndarray, np.ndarray]:
    """Cut one piece of tissue holding two feet into the two feet (see module docstring)."""
    spacing_kji = ct.spacing_mm[::-1]
    box = _bbox(piece, np.ones(3, int), piece.shape)
    sub_piece, sub_cortex = piece[box], cortex[box]
    groups = _bone_groups(sub_cortex, spacing_kji, ct.voxel_volume_mm3 / 1000.0)
    total = int(sub_cortex.sum())
    offset = np.array([b.start for b in box])
    x_mm = [float(ct.index_to_world((g.mean(axis=0) + offset)[None, ::-1])[0, 0]) for g in groups]
    if (len(groups) != 2 or min(len(g) for g in groups) < MIN_FOOT_CORTEX_SHARE * total
            or abs(x_mm[0] - x_mm[1]) < MIN_FEET_APART_X_MM):
        raise InputError(
            f"only one foot found in {source}: its bone does not fall into two feet; give the healthy foot "
            "as a second input or a scan showing both feet")
    # each tissue voxel goes to the foot whose bone is nearer: where the feet touch, the two
    # skins meet about half way between the bones (a patient's feet are mirror images)
    owner = _nearest_bone_owner(sub_piece, groups, spacing_kji)
    result = []
    for value in (1, 2):
        mask = np.zeros(piece.shape, bool)
        mask[box] = sub_piece & (owner == value)
        result.append(mask)
    return result[0], result[1]


def _side_from_laterality(laterality: str | None) -> str | None:
    if laterality is None:
        return None
    value = laterality.strip().upper()
    return {"L": "left", "LEFT": "left", "R": "right", "RIGHT": "right"}.get(value)
