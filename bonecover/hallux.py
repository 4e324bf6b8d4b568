"""Stage 3: find the hallux bones (proximal and distal phalanx of the first toe).

Bones are the connected objects of the bone mask (joint spaces keep them apart).
The foot's axes come from the bones themselves: the long axis is the principal
axis of all bone, pointing to where the small bones (phalanges) are; medial is
towards the patient's midline (from the foot's side), made perpendicular; dorsal
completes the frame (right-handed (distal, lateral, dorsal) for a left foot, its
mirror image for a right foot).
The proximal phalanx of the hallux is the largest phalanx-sized object on the
medial side of the toe row; the distal phalanx is the object that continues it
distally. A point given by the user (in the distal phalanx) overrides the search.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from bonecover.errors import AnalysisError, InputError
from bonecover.regions import HalluxFrame
from bonecover.segment import Tissues
from bonecover.volume import Volume

log = logging.getLogger(__name__)

__all__ = ["FootAxes", "HalluxBones", "foot_axes", "locate_hallux"]

#: Objects smaller than this are not bones of interest (noise, calcifications), mL.
MIN_BONE_ML = 0.05
#: A single phalanx is at most this long, mm.
MAX_PHALANX_MM = 48.0
#: A whole toe whose phalanges appear joined is at most this long, mm.
MAX_FUSED_TOE_MM = 80.0


@dataclass(frozen=True)
class FootAxes:
    """Unit anatomical directions of one foot in patient coordinates (LPS)."""

    distal: np.ndarray
    medial: np.ndarray
    dorsal: np.ndarray


@dataclass(frozen=True, eq=False)
class HalluxBones:
    """The located hallux bones of one foot.

    Parameters
    ----------
    mask : bool volume on the foot's crop grid: proximal and distal phalanx.
    frame : hallux frame (base, tip, dorsal, medial) for regions and landmarks.
    axes : the foot's anatomical directions.
    labels : bone objects of the foot (int volume, 0 background).
    proximal_label, distal_label : labels of the two phalanges (equal if fused).
    method : how they were found, for the report.
    """

    mask: Volume
    frame: HalluxFrame
    axes: FootAxes
    labels: np.ndarray
    proximal_label: int
    distal_label: int
    method: str


@dataclass(frozen=True)
class _Object:
    label: int
    volume_ml: float
    centroid: np.ndarray
    axis: np.ndarray
    length_mm: float
    points: np.ndarray  # a subsample of voxel centres, LPS mm


def _objects(labels: np.ndarray, n: int, volume: Volume) -> list[_Object]:
    objs = []
    slices = ndimage.find_objects(labels)
    for label, sl in enumerate(slices, start=1):
        if sl is None:
            continue
        local = labels[sl] == label
        count = int(local.sum())
        vol_ml = count * volume.voxel_volume_mm3 / 1000.0
        if vol_ml < MIN_BONE_ML:
            continue
        idx = np.argwhere(local) + np.array([s.start for s in sl])
        if len(idx) > 4000:
            idx = idx[:: len(idx) // 4000 + 1]
        pts = volume.index_to_world(idx[:, ::-1].astype(float))
        c = pts.mean(axis=0)
        _, _, vt = np.linalg.svd(pts - c, full_matrices=False)
        axis = vt[0]
        proj = (pts - c) @ axis
        objs.append(_Object(label, vol_ml, c, axis, float(proj.max() - proj.min()), pts))
    return objs


def foot_axes(objects: list[_Object], side: str) -> FootAxes:
    """Anatomical directions of a foot from its bone objects and its side."""
    weights = np.concatenate([np.full(len(o.points), o.volume_ml / len(o.points)) for o in objects])
    pts = np.concatenate([o.points for o in objects])
    c = np.average(pts, axis=0, weights=weights)
    _, _, vt = np.linalg.svd((pts - c) * np.sqrt(weights)[:, None], full_matrices=False)
    long_axis = vt[0]
    small = [o for o in objects if o.volume_ml < 1.5 and o.length_mm < MAX_PHALANX_MM]
    if not small:
        raise AnalysisError("no toe bones found: the scan must show the toes")
    toes = np.average([o.centroid for o in small], axis=0, weights=[o.volume_ml for o in small])
    distal = long_axis if (toes - c) @ long_axis > 0 else -long_axis
    midline = np.array([-1.0, 0.0, 0.0]) if side == "left" else np.array([1.0, 0.0, 0.0])
    medial = midline - (midline @ distal) * distal
    if np.linalg.norm(medial) < 0.3:
        raise AnalysisError("the foot's long axis runs left-right; cannot tell medial from lateral")
    medial /= np.linalg.norm(medial)
    # a left foot's (distal, lateral, dorsal) frame is right-handed, a right foot's left-handed
    dorsal = np.cross(medial, distal) if side == "left" else np.cross(distal, medial)
    return FootAxes(distal, medial, dorsal)


def locate_hallux(tissues: Tissues, *, hallux_point_mm: np.ndarray | None = None) -> HalluxBones:
    """Find the hallux phalanges of one foot.

    Parameters
    ----------
    tissues : segmentation of the foot.
    hallux_point_mm : optional (3,) LPS point inside the distal phalanx (user override).
    """
    bone = np.asarray(tissues.bone.array, bool)
    labels, n = ndimage.label(bone)
    objects = _objects(labels, n, tissues.ct)
    if len(objects) < 3:
        raise AnalysisError(f"{tissues.side} foot: only {len(objects)} bone objects found; cannot find the hallux")
    axes = foot_axes(objects, tissues.side)
    by_label = {o.label: o for o in objects}
    if hallux_point_mm is not None:
        distal_obj = _object_at(labels, by_label, tissues.ct, np.asarray(hallux_point_mm, float))
        proximal_obj = _neighbour(distal_obj, objects, -axes.distal)
        method = "user point in the distal phalanx (--hallux-point)"
        if proximal_obj is None:
            proximal_obj = distal_obj
    else:
        proximal_obj, distal_obj, method = _search(objects, axes)
    mask = np.isin(labels, [proximal_obj.label, distal_obj.label])
    frame = _frame(tissues.ct, labels, proximal_obj, distal_obj, axes)
    log.info("%s hallux: %s", tissues.side, method)
    return HalluxBones(tissues.bone.with_array(mask), frame, axes, labels, proximal_obj.label, distal_obj.label,
                       method)


def _object_at(labels: np.ndarray, by_label: dict[int, _Object], volume: Volume, point: np.ndarray) -> _Object:
    ijk = np.round(volume.world_to_index(point[None])[0]).astype(int)
    if np.any(ijk < 0) or np.any(ijk >= np.array(volume.size_ijk)):
        raise InputError(f"--hallux-point {point.tolist()} lies outside the scanned foot; give LPS mm inside the "
                         "distal phalanx")
    best, best_d = None, float("inf")
    for o in by_label.values():
        d = float(np.min(np.linalg.norm(o.points - point, axis=1)))
        if d < best_d:
            best, best_d = o, d
    if best is None or best_d > 4.0:
        raise InputError(f"--hallux-point {point.tolist()} is not on a bone (nearest bone {best_d:.1f} mm away); "
                         "give a point inside the distal phalanx")
    return best


def _neighbour(obj: _Object, objects: list[_Object], direction: np.ndarray) -> _Object | None:
    """The object that continues ``obj`` in ``direction`` across a joint (surface gap < 5 mm)."""
    best, best_score = None, float("inf")
    tree = cKDTree(obj.points)
    for o in objects:
        if o.label == obj.label or o.volume_ml < 0.1:
            continue
        if (o.centroid - obj.centroid) @ direction <= 0:
            continue
        gap = float(tree.query(o.points, distance_upper_bound=6.0)[0].min())
        if gap > 5.0:
            continue
        off_axis = float(np.linalg.norm(np.cross(o.centroid - obj.centroid, direction)))
        score = gap + 0.3 * off_axis
        if score < best_score:
            best, best_score = o, score
    return best


def _search(objects: list[_Object], axes: FootAxes) -> tuple[_Object, _Object, str]:
    along = np.array([o.centroid @ axes.distal for o in objects])
    cut = np.percentile(along, 40)  # the toe row lies in the distal part of the bones
    in_row = [o for o in objects if o.centroid @ axes.distal >= cut and o.volume_ml >= 0.3
              and abs(o.axis @ axes.distal) > 0.6]
    row = [o for o in in_row if o.length_mm <= MAX_PHALANX_MM]
    # a whole toe whose phalanges appear joined: toe-long, and nothing continues it distally
    row += [o for o in in_row if MAX_PHALANX_MM < o.length_mm <= MAX_FUSED_TOE_MM
            and _neighbour(o, objects, axes.distal) is None]
    if not row:
        raise AnalysisError("no phalanx-sized bone found; pass --hallux-point X,Y,Z inside the distal phalanx")
    biggest = max(o.volume_ml for o in row)
    candidates = [o for o in row if o.volume_ml >= 0.5 * biggest]
    proximal = max(candidates, key=lambda o: o.centroid @ axes.medial)
    if proximal.length_mm > MAX_PHALANX_MM:
        return proximal, proximal, ("largest medial bone of the toe row; its two phalanges appear joined across "
                                    "the interphalangeal joint")
    distal = _neighbour(proximal, objects, axes.distal)
    if distal is None:
        raise AnalysisError("found the hallux's proximal phalanx but no distal phalanx beyond it; "
                            "pass --hallux-point X,Y,Z inside the distal phalanx")
    return proximal, distal, ("largest medial phalanx of the toe row (proximal) and the bone continuing it "
                              "distally (distal)")


def _frame(volume: Volume, labels: np.ndarray, proximal: _Object, distal: _Object, axes: FootAxes) -> HalluxFrame:
    pts = np.concatenate([proximal.points, distal.points])
    axis = distal.centroid - proximal.centroid
    if np.linalg.norm(axis) < 1e-6:
        axis = proximal.axis if proximal.axis @ axes.distal > 0 else -proximal.axis
    axis /= np.linalg.norm(axis)
    along_p = (proximal.points - proximal.centroid) @ axis
    base_end = proximal.points[along_p <= along_p.min() + 6.0]
    base = base_end.mean(axis=0)
    proj = (pts - base) @ axis
    tip_pts = pts[proj >= proj.max() - 1.0]
    tip = tip_pts.mean(axis=0)
    return HalluxFrame.from_directions(base, tip, axes.dorsal, axes.medial)
