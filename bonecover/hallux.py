"""Stage 3: find the hallux bones (proximal and distal phalanx of the first toe).

Real bones at clinical resolution touch: at 1 mm a joint space, a sesamoid or a
tuft does not separate them, and the bone mask of a whole foot is one object.
So the hallux is found along its ray, not as separate objects:

1. The foot's axes from all its bone: the long axis is the principal axis,
   pointing to the end where the bone is slender (toes, not heel or tarsus);
   medial is towards the patient's midline (from the foot's side), made
   perpendicular; dorsal completes the frame (right-handed (distal, lateral,
   dorsal) for a left foot, its mirror image for a right foot).
2. The hallux tip: the bone point farthest out in a direction turned 35 degrees
   medially from the long axis (the first toe is the most medial toe and about
   as long as the longest; the first metatarsal head lies far behind it). A
   point given by the user (``--hallux-point``, in the distal phalanx) names the
   toe instead.
3. The ray: the axis of the bone within a tube proximal to the tip, refined a few
   times.
4. The joints: a joint space is a thin sheet darker than the bone plates on
   both sides of it, across the ray. Along the axis, the dark dip between bright
   bone within 2 mm on either side is summed over the ray's bone cross-section
   (joint spaces closed). The interphalangeal joint is the strongest dip 8-40 mm
   from the tip; the metatarsophalangeal joint one of the strong dips 12-55 mm
   beyond it. A dark line inside a phalanx can dip as deep as a joint, so the
   comparison chooses both feet's joints together (:func:`choose_joint_pair`):
   the two proximal phalanges of one patient are about equally long.
5. The bones: the bone mask near the ray is divided by a watershed of the CT
   value flooded from markers inside each bone (distal phalanx, proximal
   phalanx, and everything else: metatarsal, sesamoids, other toes), so the
   divides follow the dark joint surfaces, however curved, not planes.

When no interphalangeal joint shows (a fused or bridged joint), the whole toe is
one bone. The report says how the hallux was found.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from bonecover.errors import AnalysisError, InputError
from bonecover.regions import HalluxFrame
from bonecover.segment import Tissues, fill_holes_all_ways
from bonecover.volume import Volume

log = logging.getLogger(__name__)

__all__ = ["FootAxes", "HalluxBones", "JointProfile", "choose_joint_pair", "foot_axes", "hallux_bones",
           "joint_profile", "locate_hallux", "single_joints"]

#: Bone pieces smaller than this are not bones of interest (noise, calcifications), mL.
MIN_BONE_ML = 0.05
#: The tip is the bone farthest out in a direction turned this far medially from the long axis, degrees.
TIP_TURN_DEG = 35.0
#: The ray's axis is fitted to the bone within this radius of it, from the tip to each of RAY_FIT_STEPS_MM, mm.
RAY_RADIUS_MM = 9.0
RAY_FIT_STEPS_MM = (15.0, 25.0, 35.0, 50.0)
#: Cross-section over which joint dips are summed, radius mm; and how far along the ray they are looked for.
JOINT_SECTION_MM = 10.0
JOINT_SEARCH_MM = 100.0
#: A joint space is darker than bone plates within this reach on both sides, mm (a joint space and
#: its plates are 1-3 mm; farther, a phalanx's curved end shell would dip around its own marrow).
JOINT_REACH_MM = 2.0
#: Joint spaces narrower than twice this are closed in the bone the dips are summed over, mm.
JOINT_CLOSING_MM = 1.5
#: Interphalangeal joint from the tip, and metatarsophalangeal joint beyond it, mm (adult and child feet).
IP_FROM_TIP_MM = (8.0, 40.0)
MTP_BEYOND_IP_MM = (12.0, 55.0)
#: Metatarsophalangeal candidates dip at least this share of the strongest beyond the interphalangeal joint.
MTP_CANDIDATE_SHARE = 0.25
#: Pairing two feet: score lost per mm the two proximal phalanges differ in length.
PAIR_LENGTH_PENALTY = 0.1
#: An interphalangeal dip weaker than this share of the metatarsophalangeal one is no joint (fused).
IP_MIN_SHARE = 0.15
#: Markers stay this far from a joint, mm; and this far from the ray is not the hallux, mm.
MARKER_CLEARANCE_MM = 2.0
MARKER_RADIUS_MM = 7.0
OTHER_BONE_RADIUS_MM = 14.0
#: Labels of the bone pieces in HalluxBones.labels.
PROXIMAL, DISTAL, OTHER = 1, 2, 3


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
    labels : bone pieces of the foot (int volume: PROXIMAL, DISTAL, OTHER, 0 background).
    proximal_label, distal_label : labels of the two phalanges (equal if they are one bone).
    method : how they were found, for the report.
    joints_from_tip_mm : distances of the interphalangeal (None when fused) and
        metatarsophalangeal joints from the tip along the ray, mm.
    """

    mask: Volume
    frame: HalluxFrame
    axes: FootAxes
    labels: np.ndarray
    proximal_label: int
    distal_label: int
    method: str
    joints_from_tip_mm: tuple[float | None, float] = (None, 0.0)


@dataclass(frozen=True)
class _Ray:
    """The hallux ray: a point on its axis, the unit axis (towards the tip) and the tip."""

    centre_mm: np.ndarray
    axis: np.ndarray
    tip_mm: np.ndarray

    def from_tip_mm(self, points_mm: np.ndarray) -> np.ndarray:
        """Distance proximal from the tip along the axis, mm."""
        return (self.tip_mm - points_mm) @ self.axis

    def radial_mm(self, points_mm: np.ndarray) -> np.ndarray:
        rel = points_mm - self.centre_mm
        return np.linalg.norm(rel - np.outer(rel @ self.axis, self.axis), axis=1)


def _bone_points(bone: np.ndarray, volume: Volume, max_points: int = 80000) -> np.ndarray:
    """Voxel centres (LPS mm) of bone pieces of at least MIN_BONE_ML, evenly subsampled."""
    labels, n = ndimage.label(bone)
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    keep = counts * volume.voxel_volume_mm3 / 1000.0 >= MIN_BONE_ML
    keep[0] = False
    idx = np.argwhere(keep[labels])
    if len(idx) > max_points:
        idx = idx[:: len(idx) // max_points + 1]
    return volume.index_to_world(idx[:, ::-1].astype(float))


def foot_axes(points_mm: np.ndarray, side: str) -> FootAxes:
    """Anatomical directions of a foot from its bone voxel centres (LPS mm) and its side.

    The toes are at the slender end of the long axis: the bone in the last 25 mm
    there is less than at the other end (heel, or the tarsus and metatarsal bases
    of a forefoot scan).
    """
    c = points_mm.mean(axis=0)
    _, _, vt = np.linalg.svd(points_mm - c, full_matrices=False)
    long_axis = vt[0]
    proj = (points_mm - c) @ long_axis
    near_max = np.sum(proj > proj.max() - 25.0)
    near_min = np.sum(proj < proj.min() + 25.0)
    distal = long_axis if near_max < near_min else -long_axis
    midline = np.array([-1.0, 0.0, 0.0]) if side == "left" else np.array([1.0, 0.0, 0.0])
    medial = midline - (midline @ distal) * distal
    if np.linalg.norm(medial) < 0.3:
        raise AnalysisError(f"{side} foot: its long axis runs left-right; cannot tell medial from lateral")
    medial /= np.linalg.norm(medial)
    # a left foot's (distal, lateral, dorsal) frame is right-handed, a right foot's left-handed
    dorsal = np.cross(medial, distal) if side == "left" else np.cross(distal, medial)
    return FootAxes(distal, medial, dorsal)


def _fit_ray(points_mm: np.ndarray, tip_mm: np.ndarray, direction: np.ndarray) -> _Ray:
    """The ray's axis, fitted to the bone within RAY_RADIUS_MM of it, growing from the tip.

    Grown in steps (the distal phalanx first, then the proximal one) so that it follows
    a hallux turned away from the foot's axis (valgus up to 40 degrees) instead of
    drifting onto the second toe.
    """
    ray = _Ray(tip_mm, direction, tip_mm)
    for length in RAY_FIT_STEPS_MM:
        for _ in range(2):
            s = ray.from_tip_mm(points_mm)
            sel = (s >= -2.0) & (s <= length) & (ray.radial_mm(points_mm) <= RAY_RADIUS_MM)
            if sel.sum() < 20:
                break
            q = points_mm[sel]
            centre = q.mean(axis=0)
            _, _, vt = np.linalg.svd(q - centre, full_matrices=False)
            axis = vt[0] if vt[0] @ ray.axis > 0 else -vt[0]
            # the tip: the most distal bone near the axis
            trial = _Ray(centre, axis, centre)
            near = q[trial.radial_mm(q) <= RAY_RADIUS_MM]
            tip = near[np.argmax(near @ axis)]
            ray = _Ray(centre, axis, centre + ((tip - centre) @ axis) * axis)
    return ray


def _tip(points_mm: np.ndarray, axes: FootAxes, user_point_mm: np.ndarray | None) -> np.ndarray:
    """A point at the hallux tip: the farthest bone medially-distally, or the end of the user's toe."""
    if user_point_mm is None:
        turn = np.radians(TIP_TURN_DEG)
        direction = np.cos(turn) * axes.distal + np.sin(turn) * axes.medial
        score = points_mm @ direction
        return points_mm[score >= score.max() - 1.0].mean(axis=0)
    # the toe through the user's point: the bone near the line along the foot's axis, beyond the point
    ray = _Ray(user_point_mm, axes.distal, user_point_mm)
    sel = (ray.from_tip_mm(points_mm) <= 4.0) & (ray.radial_mm(points_mm) <= RAY_RADIUS_MM)
    near = points_mm[sel]
    return near[np.argmax(near @ axes.distal)]


def _sample_grid(ray: _Ray, spacing_mm: float, reach_mm: float, radius_mm: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Sample positions along the ray (distance from tip, mm) and the (S, D, 3) LPS points of each section."""
    s = np.arange(-3.0, reach_mm, spacing_mm)
    e1 = np.cross(ray.axis, [1.0, 0.0, 0.0])
    if np.linalg.norm(e1) < 0.5:
        e1 = np.cross(ray.axis, [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(ray.axis, e1)
    r = np.arange(-radius_mm, radius_mm + 1e-9, spacing_mm)
    a, b = np.meshgrid(r, r, indexing="ij")
    disc = (a**2 + b**2 <= radius_mm**2)
    offsets = a[disc][:, None] * e1 + b[disc][:, None] * e2
    centres = ray.tip_mm - np.outer(s, ray.axis)  # the tip lies on the axis
    return s, centres[:, None, :] + offsets[None, :, :]


def _joint_profile(smooth: np.ndarray, bone: np.ndarray, volume: Volume, ray: _Ray, soft_hu: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Dark dips across the ray, summed over its cross-section, per distance from the tip (HU * mm2).

    Only within the bone with its joint spaces closed: the notch of soft tissue around
    a joint's rim (between two flared bone ends) is no joint space.
    """
    step = 0.5
    s, pts = _sample_grid(ray, step, JOINT_SEARCH_MM, JOINT_SECTION_MM)
    ijk = volume.world_to_index(pts.reshape(-1, 3))
    values = ndimage.map_coordinates(smooth, [ijk[:, 2], ijk[:, 1], ijk[:, 0]], order=1,
                                     cval=-1000.0).reshape(pts.shape[:2])
    reach_vox = np.maximum(np.round(JOINT_CLOSING_MM / volume.spacing_mm[::-1]), 1).astype(int)
    closed = ndimage.binary_closing(bone, structure=np.ones(tuple(2 * r + 1 for r in reach_vox), bool))
    within = ndimage.map_coordinates(closed.astype(np.uint8), [ijk[:, 2], ijk[:, 1], ijk[:, 0]], order=0,
                                     cval=0).reshape(pts.shape[:2]) > 0
    reach = int(round(JOINT_REACH_MM / step))
    padded = np.pad(values, ((reach, reach), (0, 0)), constant_values=-1000.0)
    n = len(s)
    towards_tip = np.max([padded[reach - d: reach - d + n] for d in range(1, reach + 1)], axis=0)
    away = np.max([padded[reach + d: reach + d + n] for d in range(1, reach + 1)], axis=0)
    sides = np.minimum(towards_tip, away)
    dip = np.where(within & (sides > soft_hu + 150.0), np.clip(sides - values, 0.0, None), 0.0)
    score = ndimage.gaussian_filter1d(dip.sum(axis=1) * step * step, 1.0 / step)
    return s, score


def _peaks(s: np.ndarray, score: np.ndarray, lo: float, hi: float, min_share: float
           ) -> list[tuple[float, float]]:
    """Local maxima of ``score`` with ``lo <= s <= hi`` and at least ``min_share`` of the
    strongest there: (position, height), strongest first."""
    inner = (score[1:-1] >= score[:-2]) & (score[1:-1] > score[2:])
    peaks = np.flatnonzero(inner) + 1
    peaks = peaks[(s[peaks] >= lo) & (s[peaks] <= hi) & (score[peaks] > 0)]
    if len(peaks) == 0:
        return []
    peaks = peaks[score[peaks] >= min_share * score[peaks].max()]
    return sorted(((float(s[i]), float(score[i])) for i in peaks), key=lambda p: -p[1])


@dataclass(frozen=True, eq=False)
class JointProfile:
    """One foot's hallux ray and the joint-space profile along it (the first half of locating it).

    Parameters
    ----------
    ray : the hallux ray (axis and tip, LPS mm).
    axes : the foot's anatomical directions.
    from_tip_mm, score : the dark-dip profile along the ray (distance from the tip, mm; HU mm2).
    box : the crop's index box around the ray, and ``smooth`` its lightly smoothed HU.
    who : how the toe was chosen, for the report; foot / advice: for messages.
    """

    ray: _Ray
    axes: FootAxes
    from_tip_mm: np.ndarray
    score: np.ndarray
    box: tuple[slice, slice, slice]
    smooth: np.ndarray
    who: str
    foot: str
    advice: str

    def interphalangeal(self) -> tuple[float, float] | None:
        """The strongest dip in the interphalangeal window: (mm from tip, height)."""
        found = _peaks(self.from_tip_mm, self.score, *IP_FROM_TIP_MM, 0.0)
        return found[0] if found else None

    def metatarsophalangeal(self, ip_mm: float | None) -> list[tuple[float, float]]:
        """Candidate metatarsophalangeal dips beyond ``ip_mm``, strongest first."""
        lo = (IP_FROM_TIP_MM[0] if ip_mm is None else ip_mm) + MTP_BEYOND_IP_MM[0]
        hi = (IP_FROM_TIP_MM[1] if ip_mm is None else ip_mm) + MTP_BEYOND_IP_MM[1]
        return _peaks(self.from_tip_mm, self.score, lo, hi, MTP_CANDIDATE_SHARE)


def joint_profile(tissues: Tissues, *, hallux_point_mm: np.ndarray | tuple[float, float, float] | None = None,
                  role: str | None = None) -> JointProfile:
    """Find the hallux ray of one foot and the joint-space profile along it (module docstring, 1-4).

    Parameters
    ----------
    tissues : segmentation of the foot.
    hallux_point_mm : optional (3,) LPS point inside the distal phalanx (user override), mm.
    role : ``affected`` / ``healthy``, for messages (which foot failed, which option helps).
    """
    foot = f"{role} ({tissues.side}) foot" if role else f"{tissues.side} foot"
    option = "--healthy-hallux-point" if role == "healthy" else "--hallux-point"
    advice = (f"pass {option} X,Y,Z: a point inside that foot's distal phalanx in patient mm (LPS, as a DICOM "
              "viewer shows the cursor's patient position)")
    volume = tissues.ct
    bone = np.asarray(tissues.bone.array, bool)
    points = _bone_points(bone, volume)
    if len(points) < 100:
        raise AnalysisError(f"{foot}: too little bone found; cannot find the hallux")
    axes = foot_axes(points, tissues.side)
    user = None
    if hallux_point_mm is not None:
        user = _check_user_point(np.asarray(hallux_point_mm, float), points, volume, foot, option)
    ray = _fit_ray(points, _tip(points, axes, user), axes.distal)
    # work on a box around the ray (joint search length and the other bones' reach)
    box = _ray_box(volume, ray, JOINT_SEARCH_MM + 10.0, OTHER_BONE_RADIUS_MM + 12.0)
    sub = volume.crop(*box)
    smooth = ndimage.gaussian_filter(np.asarray(sub.array, np.float32), 0.5 / sub.spacing_mm[::-1])
    s, score = _joint_profile(smooth, bone[box], sub, ray, tissues.soft_tissue_hu)
    who = f"user point in the distal phalanx ({option})" if user is not None else "most distal-medial toe tip"
    return JointProfile(ray, axes, s, score, box, smooth, who, foot, advice)


def single_joints(profile: JointProfile) -> tuple[float | None, float]:
    """Interphalangeal (None when fused) and metatarsophalangeal joints of one foot on its own."""
    ip = profile.interphalangeal()
    mtp = profile.metatarsophalangeal(None if ip is None else ip[0])
    if not mtp:
        raise AnalysisError(f"{profile.foot}: no joint space found along the first toe from its tip "
                            f"({profile.who}); {profile.advice}")
    fused = ip is None or ip[1] < IP_MIN_SHARE * mtp[0][1]
    return (None if fused else ip[0]), mtp[0][0]  # type: ignore[index]


def choose_joint_pair(a: JointProfile, b: JointProfile) -> tuple[tuple[float | None, float],
                                                                  tuple[float | None, float]]:
    """Joints of two feet of one patient, chosen together.

    Each foot's candidates score by their dip (relative to its own strongest); a pair
    loses PAIR_LENGTH_PENALTY per mm that its proximal phalanges differ in length: the
    two halluces are mirror images (a wound changes the tip, rarely the proximal
    phalanx), and a dark line inside a phalanx can dip as deep as a joint.
    """
    choices = []
    for profile in (a, b):
        ip = profile.interphalangeal()
        ip_mm = ip[0] if ip is not None else None
        candidates = profile.metatarsophalangeal(ip_mm)
        if not candidates:
            raise AnalysisError(f"{profile.foot}: no joint space found along the first toe from its tip "
                                f"({profile.who}); {profile.advice}")
        top = max(h for _, h in candidates)
        fused = ip is None or ip[1] < IP_MIN_SHARE * top
        choices.append((None if fused else ip_mm, [(m, h / top) for m, h in candidates]))
    (ip_a, cand_a), (ip_b, cand_b) = choices
    best = None
    for m_a, h_a in cand_a:
        for m_b, h_b in cand_b:
            len_a = m_a - (ip_a if ip_a is not None else 0.0)
            len_b = m_b - (ip_b if ip_b is not None else 0.0)
            # a fused toe's proximal phalanx length is unknown: no pairing prior then
            mismatch = abs(len_a - len_b) if ip_a is not None and ip_b is not None else 0.0
            value = h_a + h_b - PAIR_LENGTH_PENALTY * mismatch
            if best is None or value > best[0]:
                best = (value, m_a, m_b)
    assert best is not None
    return (ip_a, best[1]), (ip_b, best[2])


def hallux_bones(tissues: Tissues, profile: JointProfile, ip_mm: float | None, mtp_mm: float) -> HalluxBones:
    """Cut the hallux phalanges from the foot's bone at the chosen joints (module docstring, 5)."""
    bone = np.asarray(tissues.bone.array, bool)
    box = profile.box
    labels_sub = _divide(profile.smooth, bone[box], tissues.ct.crop(*box), profile.ray, ip_mm, mtp_mm)
    labels = np.zeros(bone.shape, np.int8)
    labels[bone] = OTHER
    labels[box] = np.where(labels_sub > 0, labels_sub, labels[box])
    proximal_label = PROXIMAL
    distal_label = PROXIMAL if ip_mm is None else DISTAL
    if not np.any(labels == proximal_label) or not np.any(labels == distal_label):
        raise AnalysisError(f"{profile.foot}: the hallux bones could not be cut from the first ray "
                            f"({profile.who}); {profile.advice}")
    mask = np.isin(labels, [proximal_label, distal_label])
    frame = _frame(tissues.ct, labels, proximal_label, distal_label, profile.ray, profile.axes)
    joints = (f"interphalangeal joint {ip_mm:.0f} mm and metatarsophalangeal joint {mtp_mm:.0f} mm from the tip"
              if ip_mm is not None else
              f"metatarsophalangeal joint {mtp_mm:.0f} mm from the tip; no interphalangeal joint space "
              "(its two phalanges appear joined)")
    method = f"{profile.who}, its ray followed to the dark joint spaces across it: {joints}"
    log.info("%s hallux: %s", tissues.side, method)
    return HalluxBones(tissues.bone.with_array(mask), frame, profile.axes, labels, proximal_label, distal_label,
                       method, (ip_mm, mtp_mm))


def locate_hallux(tissues: Tissues, *, hallux_point_mm: np.ndarray | tuple[float, float, float] | None = None,
                  role: str | None = None) -> HalluxBones:
    """Find the hallux phalanges of one foot on its own (see module docstring).

    Parameters
    ----------
    tissues : segmentation of the foot.
    hallux_point_mm : optional (3,) LPS point inside the distal phalanx (user override), mm.
    role : ``affected`` / ``healthy``, for messages (which foot failed, which option helps).
    """
    profile = joint_profile(tissues, hallux_point_mm=hallux_point_mm, role=role)
    return hallux_bones(tissues, profile, *single_joints(profile))


def _check_user_point(point: np.ndarray, bone_points: np.ndarray, volume: Volume, foot: str,
                      option: str) -> np.ndarray:
    ijk = np.round(volume.world_to_index(point[None])[0]).astype(int)
    if np.any(ijk < 0) or np.any(ijk >= np.array(volume.size_ijk)):
        raise InputError(f"{option} {point.tolist()} lies outside the {foot}'s scanned region; give patient mm "
                         "(LPS, a viewer's cursor position) inside that foot's distal phalanx")
    d = float(np.min(np.linalg.norm(bone_points - point, axis=1)))
    if d > 4.0:
        raise InputError(f"{option} {point.tolist()} is not on a bone of the {foot} (nearest bone {d:.1f} mm "
                         "away); give a point inside that foot's distal phalanx")
    return point


def _ray_box(volume: Volume, ray: _Ray, length_mm: float, radius_mm: float) -> tuple[slice, slice, slice]:
    """Index box of ``volume`` holding the cylinder around the ray from the tip to ``length_mm``."""
    ends = [ray.tip_mm + 3.0 * ray.axis, ray.tip_mm - length_mm * ray.axis]
    corners = np.array([e + (np.array(o) - 1) * radius_mm for e in ends for o in np.ndindex(3, 3, 3)])
    ijk = volume.world_to_index(corners)[:, ::-1]
    lo = np.maximum(np.floor(ijk.min(axis=0)).astype(int), 0)
    hi = np.minimum(np.ceil(ijk.max(axis=0)).astype(int) + 1, np.array(volume.array.shape))
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))  # type: ignore[return-value]


def _divide(smooth: np.ndarray, bone: np.ndarray, volume: Volume, ray: _Ray, ip_mm: float | None,
            mtp_mm: float) -> np.ndarray:
    """Label the bone near the ray PROXIMAL / DISTAL / OTHER by a watershed of the CT value.

    Markers: inside each phalanx (near the axis, clear of the joints) and everything
    else (beyond the metatarsophalangeal joint, or far from the axis). The floods
    meet at the darkest surface between them: the joint spaces.
    """
    idx = np.argwhere(bone)
    pts = volume.index_to_world(idx[:, ::-1].astype(float))
    s = ray.from_tip_mm(pts)
    radial = ray.radial_mm(pts)
    markers = np.zeros(bone.shape, np.uint8)
    near = radial <= MARKER_RADIUS_MM
    c = MARKER_CLEARANCE_MM
    if ip_mm is None:
        groups = {PROXIMAL: near & (s <= mtp_mm - c)}
    else:
        groups = {DISTAL: near & (s <= ip_mm - c), PROXIMAL: near & (s >= ip_mm + c) & (s <= mtp_mm - c)}
    groups[OTHER] = (s >= mtp_mm + c) | (radial >= OTHER_BONE_RADIUS_MM)
    for value, sel in groups.items():
        markers[tuple(idx[sel].T)] = value
    # bright is low: the floods run through bone first and meet in its darkest places
    landscape = np.where(bone, -smooth, np.float32(10000.0)).astype(np.float32)
    flooded = sitk.GetArrayFromImage(sitk.MorphologicalWatershedFromMarkers(
        sitk.GetImageFromArray(landscape), sitk.GetImageFromArray(markers), markWatershedLine=False,
        fullyConnected=True))
    labels = np.where(bone, flooded, 0).astype(np.int8)
    for value in (PROXIMAL, DISTAL):
        # a phalanx is the bone its own marker floods without leaving the bone
        pieces, n = ndimage.label(labels == value)
        if n > 1:
            seeded = np.unique(pieces[(markers == value) & (pieces > 0)])
            labels[(pieces > 0) & ~np.isin(pieces, seeded)] = OTHER
        # and it is solid: fatty marrow behind a porous cortex (cadaver, osteoporosis) is
        # no surface of its own
        phalanx = labels == value
        labels[fill_holes_all_ways(phalanx) & ~phalanx] = value
    return labels


def _frame(volume: Volume, labels: np.ndarray, proximal_label: int, distal_label: int, ray: _Ray,
           axes: FootAxes) -> HalluxFrame:
    """Hallux frame: base = centre of the proximal phalanx's base, tip = distal end, along the phalanges."""
    prox_idx = np.argwhere(labels == proximal_label)
    dist_idx = np.argwhere(labels == distal_label)
    prox = volume.index_to_world(prox_idx[:: max(1, len(prox_idx) // 6000), ::-1].astype(float))
    dist = volume.index_to_world(dist_idx[:: max(1, len(dist_idx) // 6000), ::-1].astype(float))
    axis = dist.mean(axis=0) - prox.mean(axis=0)
    if distal_label == proximal_label or np.linalg.norm(axis) < 1e-6:
        axis = ray.axis.copy()
    axis /= np.linalg.norm(axis)
    along_p = (prox - prox.mean(axis=0)) @ axis
    base = prox[along_p <= along_p.min() + 6.0].mean(axis=0)
    pts = np.concatenate([prox, dist])
    proj = (pts - base) @ axis
    tip = pts[proj >= proj.max() - 1.0].mean(axis=0)
    return HalluxFrame.from_directions(base, tip, axes.dorsal, axes.medial)
