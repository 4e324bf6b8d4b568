"""A parametric model of the human forefoot and midfoot, built from implicit shapes.

The model is defined once, for a canonical left foot, in a foot frame (mm):
``u`` distal (heel to toes), ``v`` lateral, ``w`` dorsal, origin at the centre of the
first metatarsal head. A foot instance places every bone and every block of flesh
in patient coordinates (LPS) through 4x4 transforms: the side (the right foot is
the exact reflection v -> -v), a global pose, per-bone shape asymmetry (scales) and
toe joint angles. The same instance is evaluated by the renderer (``phantom``) and
by the ground truth (``truth``), so both see identical geometry.

Dimensions follow adult anatomy (first metatarsal about 63 mm, hallux proximal
phalanx about 30 mm, distal about 24 mm; dorsal soft tissue over the hallux about
3-4 mm, plantar 6-8 mm, pulp 8-10 mm).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from bonecover.implicit import Ellipsoid, Primitive, RoundCone, Sphere, apply_affine, smooth_min

__all__ = [
    "HALLUX_BONES",
    "Defect",
    "FootModel",
    "FootParams",
    "Part",
    "TissueHU",
    "build_foot",
    "rotation_about",
    "toe_contact_depth_mm",
]

#: Names of the bones that make up "the hallux bones" of SPEC (not sesamoids, not MT1).
HALLUX_BONES = ("hallux_proximal_phalanx", "hallux_distal_phalanx")

#: Value given to a part's distance outside its bounding box plus its ``margin_mm``:
#: a part is evaluated only where it can change a union (blend radii are <= 10 mm,
#: and rendering reads bone distances only up to a few mm).
_FAR_MM = 1000.0
_BONE_MARGIN_MM = 3.0
_FLESH_MARGIN_MM = 12.0
#: Outside the skin envelope by more than this, no bone can be near (bones are inside it).
_BONE_REACH_MM = 4.0


def rotation_about(axis: Sequence[float], angle_deg: float) -> np.ndarray:
    """4x4 rotation by ``angle_deg`` about a unit ``axis`` through the origin (right hand)."""
    a = np.asarray(axis, float)
    a = a / np.linalg.norm(a)
    t = np.deg2rad(angle_deg)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    m = np.eye(4)
    m[:3, :3] = np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * (k @ k)
    return m


def translation(t: Sequence[float]) -> np.ndarray:
    """4x4 translation by ``t`` (mm)."""
    m = np.eye(4)
    m[:3, 3] = np.asarray(t, float)
    return m


def scaling(s: Sequence[float]) -> np.ndarray:
    """4x4 scaling by ``s`` along the frame axes."""
    m = np.eye(4)
    m[[0, 1, 2], [0, 1, 2]] = np.asarray(s, float)
    return m


# Joint motions in the foot frame (u distal, v lateral, w dorsal).
def flexion(angle_deg: float) -> np.ndarray:
    """Plantar flexion (distal end towards plantar) by ``angle_deg`` about the v axis."""
    return rotation_about((0, 1, 0), angle_deg)


def abduction(angle_deg: float) -> np.ndarray:
    """Lateral deviation (distal end towards lateral) by ``angle_deg`` about the w axis."""
    return rotation_about((0, 0, 1), angle_deg)


@dataclass(frozen=True, eq=False)
class Part:
    """One rigid piece of anatomy: primitives in its own frame, placed by ``to_patient``.

    Parameters
    ----------
    name : anatomical name, e.g. ``hallux_distal_phalanx``.
    primitives : shapes in the part frame, joined by a smooth union of ``blend_mm``.
    to_patient : (4, 4) part frame -> patient LPS (mm); may include scaling and reflection.
    cortex_mm : cortical thickness (bones only), mm.
    margin_mm : beyond its box plus this margin the part reports a far distance
        (``_FAR_MM``) instead of evaluating its shapes: distances are exact only up to
        this far outside the part.
    """

    name: str
    primitives: tuple[Primitive, ...]
    blend_mm: float
    to_patient: np.ndarray
    cortex_mm: float = 0.0
    margin_mm: float = _FLESH_MARGIN_MM
    bbox_lo: np.ndarray = field(init=False, repr=False)
    bbox_hi: np.ndarray = field(init=False, repr=False)
    _from_patient: np.ndarray = field(init=False, repr=False)
    _scale: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        lo = np.min([p.bbox()[0] for p in self.primitives], axis=0)
        hi = np.max([p.bbox()[1] for p in self.primitives], axis=0)
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        world = apply_affine(self.to_patient, corners)
        object.__setattr__(self, "bbox_lo", world.min(axis=0))
        object.__setattr__(self, "bbox_hi", world.max(axis=0))
        object.__setattr__(self, "_from_patient", np.linalg.inv(self.to_patient))
        object.__setattr__(self, "_scale", abs(np.linalg.det(self.to_patient[:3, :3])) ** (1 / 3))

    def near(self, lo: np.ndarray, hi: np.ndarray) -> bool:
        """Whether the part can matter for points in the box [lo, hi] (patient mm)."""
        m = self.margin_mm
        return bool((self.bbox_lo - m <= hi).all() and (self.bbox_hi + m >= lo).all())

    def sdf(self, points: np.ndarray, box: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Signed distance (mm, patient space) of (N, 3) LPS points to this part.

        ``box`` is the points' bounding box (min, max), if the caller knows it.
        """
        m = self.margin_mm
        lo, hi = self.bbox_lo - m, self.bbox_hi + m
        plo, phi = box if box is not None else (points.min(axis=0), points.max(axis=0))
        if (plo >= lo).all() and (phi <= hi).all():
            return self._sdf_local(points)
        out = np.full(len(points), _FAR_MM, dtype=points.dtype)
        x, y, z = points[:, 0], points[:, 1], points[:, 2]
        inside = (x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1]) & (z >= lo[2]) & (z <= hi[2])
        if inside.any():
            out[inside] = self._sdf_local(points[inside])
        return out

    def _sdf_local(self, points: np.ndarray) -> np.ndarray:
        q = apply_affine(self._from_patient, points)
        d = self.primitives[0].sdf(q)
        for prim in self.primitives[1:]:
            d = smooth_min(d, prim.sdf(q), self.blend_mm)
        return (d * self._scale).astype(points.dtype, copy=False)


@dataclass(frozen=True)
class TissueHU:
    """Attenuation of each tissue of one foot, Hounsfield units."""

    soft_tissue: float
    fat: float
    cortex: float
    cancellous: float


@dataclass(frozen=True)
class FootParams:
    """Everything that makes one foot instance differ from the canonical model.

    Parameters
    ----------
    side : ``left`` or ``right``.
    position_mm : LPS position of the first metatarsal head centre, mm.
    pose_deg : (abduction, plantar flexion, inversion) of the whole foot, degrees,
        applied in the foot frame about the first metatarsal head.
    hallux_valgus_deg, hallux_mtp_flexion_deg, hallux_ip_flexion_deg : hallux pose.
    bone_scale : per-bone (3,) scale along the bone's own axes (shape asymmetry).
    soft_tissue_scale : multiplies soft-tissue thickness (atrophy < 1).
    toe_spread_deg : extra lateral spread of the lesser toes (controls gaps between toes).
    hu : tissue attenuations.
    """

    side: str
    position_mm: tuple[float, float, float]
    pose_deg: tuple[float, float, float]
    hallux_valgus_deg: float
    hallux_mtp_flexion_deg: float
    hallux_ip_flexion_deg: float
    bone_scale: dict[str, tuple[float, float, float]]
    soft_tissue_scale: float
    toe_spread_deg: float
    hu: TissueHU

    def foot_to_patient(self) -> np.ndarray:
        """(4, 4) canonical foot frame -> LPS, including the reflection of a right foot."""
        # Canonical left foot, neutral: distal = anterior (-y), lateral = +x, dorsal = superior (+z).
        c = np.eye(4)
        c[:3, :3] = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        if self.side == "right":
            c = c @ scaling((1.0, -1.0, 1.0))
        elif self.side != "left":
            raise ValueError(f"side must be 'left' or 'right'; got {self.side!r}")
        abd, flex, inv = self.pose_deg
        pose = abduction(abd) @ flexion(flex) @ rotation_about((1, 0, 0), inv)
        return translation(self.position_mm) @ c @ pose


@dataclass(frozen=True)
class Defect:
    """A wound on the hallux, in patient coordinates.

    Soft tissue inside ``crater`` is removed (bone is kept); bone inside ``bone_cut``
    (if any) is removed too. ``kind`` is ``none`` (healed, thinned cover), ``small``
    or ``large``.
    """

    kind: str
    crater_centre_mm: tuple[float, float, float]
    crater_radius_mm: float
    site_mm: tuple[float, float, float]
    direction: tuple[float, float, float]
    bone_cut_centre_mm: tuple[float, float, float] | None = None
    bone_cut_radius_mm: float = 0.0

    def crater_sdf(self, p: np.ndarray) -> np.ndarray:
        return Sphere(self.crater_centre_mm, self.crater_radius_mm).sdf(p)

    def bone_cut_sdf(self, p: np.ndarray) -> np.ndarray | None:
        if self.bone_cut_centre_mm is None:
            return None
        return Sphere(self.bone_cut_centre_mm, self.bone_cut_radius_mm).sdf(p)


# ----------------------------------------------------------------------------- anatomy
@dataclass(frozen=True)
class _Ray:
    """Canonical geometry of one ray (metatarsal + toe), left foot, mm and degrees."""

    index: int
    head: tuple[float, float, float]  # metatarsal head centre in the foot frame
    mt_length: float
    mt_abduction: float  # direction of the metatarsal in the u-v plane
    mt_declination: float  # plantar inclination of the shaft towards the head
    head_radius: float
    shaft_radius: float
    base_radius: float
    toe_abduction: float
    # per phalanx: (length, base radius, shaft radius, head radius), proximal to distal
    phalanges: tuple[tuple[float, float, float, float], ...]
    toe_joint_flexion: tuple[float, ...]  # MTP, (PIP,) DIP flexion, degrees


_RAYS = (
    _Ray(1, (0.0, 0.0, 0.0), 63.0, -5.0, 20.0, 9.0, 5.8, 10.5, 3.0,
         ((30.0, 8.0, 5.0, 6.5), (24.0, 7.2, 4.0, 5.0)), (4.0, 4.0)),
    _Ray(2, (3.0, 22.0, 1.5), 74.0, 1.0, 16.0, 5.5, 3.6, 6.5, 4.0,
         ((24.0, 4.6, 3.0, 3.8), (11.0, 3.6, 2.8, 3.2), (8.0, 3.2, 2.4, 3.0)), (-12.0, 30.0, 8.0)),
    _Ray(3, (-2.0, 38.0, 0.5), 69.0, 5.0, 12.0, 5.2, 3.4, 6.2, 7.0,
         ((21.0, 4.3, 2.8, 3.6), (9.0, 3.4, 2.6, 3.0), (7.0, 3.0, 2.2, 2.8)), (-10.0, 30.0, 8.0)),
    _Ray(4, (-9.0, 52.0, -1.0), 66.0, 9.0, 9.0, 5.0, 3.3, 6.0, 11.0,
         ((18.0, 4.0, 2.6, 3.4), (8.0, 3.2, 2.4, 2.9), (6.5, 2.9, 2.1, 2.7)), (-8.0, 30.0, 8.0)),
    _Ray(5, (-18.0, 65.0, -3.0), 68.0, 16.0, 5.0, 5.0, 3.5, 7.5, 16.0,
         ((15.0, 4.0, 2.6, 3.3), (6.0, 3.1, 2.4, 2.8), (6.0, 2.9, 2.1, 2.6)), (-6.0, 30.0, 8.0)),
)

_JOINT_GAP_MM = 1.5

#: Tarsal bones in the foot frame: (name, centre, radii) of an ellipsoid, mm.
_TARSALS = (
    ("medial_cuneiform", (-70.0, -3.0, 24.0), (10.0, 9.0, 15.0)),
    ("intermediate_cuneiform", (-79.0, 15.0, 24.0), (8.0, 7.5, 11.0)),
    ("lateral_cuneiform", (-76.0, 31.0, 20.0), (9.0, 7.5, 11.0)),
    ("cuboid", (-82.0, 50.0, 10.0), (13.0, 11.0, 11.0)),
    ("navicular", (-98.0, 12.0, 28.0), (7.0, 17.0, 12.0)),
    ("talus_head", (-120.0, 12.0, 34.0), (15.0, 16.0, 15.0)),
    ("calcaneus", (-128.0, 42.0, 10.0), (32.0, 16.0, 19.0)),
)


def _phalanx(length: float, r_base: float, r_shaft: float, r_head: float, start: float,
             *, ungual: bool = False) -> tuple[Primitive, ...]:
    """Primitives of a phalanx lying along +u from ``start`` to ``start + length``."""
    flat = 0.85
    rb_u = min(0.22 * length, 0.75 * r_base)
    rh_u = min(0.18 * length, 0.7 * r_head)
    if ungual:  # distal phalanx: a flattened tuft, slightly plantar
        return (
            Ellipsoid((start + rb_u, 0.0, 0.0), (rb_u, r_base, r_base * 0.8)),
            RoundCone((start + 0.3 * length, 0.0, 0.0), (start + 0.78 * length, 0.0, -0.3),
                      r_shaft * 1.15, r_shaft * 0.85),
            Ellipsoid((start + length - rh_u, 0.0, -0.4), (rh_u, r_head, r_head * 0.62)),
        )
    return (
        Ellipsoid((start + rb_u, 0.0, 0.0), (rb_u, r_base, r_base * flat)),
        RoundCone((start + 0.3 * length, 0.0, 0.0), (start + 0.8 * length, 0.0, 0.0),
                  r_shaft * 1.1, r_shaft),
        Ellipsoid((start + length - rh_u, 0.0, 0.0), (rh_u, r_head, r_head * flat)),
    )


def _metatarsal(ray: _Ray) -> tuple[Primitive, ...]:
    """Primitives of a metatarsal in its frame: head centre at the origin, shaft along -u."""
    length, rh = ray.mt_length, ray.head_radius
    return (
        Ellipsoid((0.0, 0.0, 0.0), (rh, rh * 0.9, rh)),
        RoundCone((-length + 9.0, 0.0, 0.0), (-rh * 0.6, 0.0, 0.0), ray.shaft_radius * 1.1, ray.shaft_radius),
        Ellipsoid((-length + rh + 1.0, 0.0, 0.0), (7.0, ray.base_radius * 0.8, ray.base_radius)),
    )


@dataclass(frozen=True, eq=False)
class FootModel:
    """One foot in patient coordinates: bones, flesh, an optional defect, tissue HU.

    Parameters
    ----------
    params : the instance parameters it was built from.
    bones : every bone as a :class:`Part` (names are unique).
    flesh_groups : soft-tissue parts, grouped: group 0 is the forefoot/midfoot (joined
        with a wide fillet), the others are toes (joined to the forefoot with a small
        fillet, never to each other, so toes separate near their tips).
    defect : wound on the hallux, or None.
    landmarks_mm : named LPS points (hallux tip, interphalangeal joint centre,
        proximal phalanx base centre, first and fifth metatarsal head centres).
    """

    params: FootParams
    bones: tuple[Part, ...]
    flesh_groups: tuple[tuple[Part, ...], ...]
    defect: Defect | None
    landmarks_mm: dict[str, np.ndarray]
    forefoot_blend_mm: float = 10.0
    toe_blend_mm: float = 3.0
    web_blend_mm: float = 5.0
    fat_skin_mm: float = 1.5
    fat_depth_mm: float = 6.0

    @property
    def side(self) -> str:
        return self.params.side

    @property
    def hu(self) -> TissueHU:
        return self.params.hu

    def bone(self, name: str) -> Part:
        for b in self.bones:
            if b.name == name:
                return b
        raise KeyError(name)

    def may_hold_tissue(self, lo: np.ndarray, hi: np.ndarray) -> bool:
        """Whether the box [lo, hi] (patient mm) can contain any of this foot's tissue.

        Conservative: tests the boxes of the parts, grown by the largest fillet.
        """
        grow = max(self.forefoot_blend_mm, self.toe_blend_mm, self.web_blend_mm) / 4.0 + 1.0
        return bool(np.any(np.all(self._part_lo - grow <= hi, axis=1) & np.all(self._part_hi + grow >= lo, axis=1)))

    @property
    def _part_lo(self) -> np.ndarray:
        return np.array([p.bbox_lo for p in self.bones] + [p.bbox_lo for g in self.flesh_groups for p in g])

    @property
    def _part_hi(self) -> np.ndarray:
        return np.array([p.bbox_hi for p in self.bones] + [p.bbox_hi for g in self.flesh_groups for p in g])

    def bbox_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """Patient-space box around all parts of this foot (mm)."""
        parts = list(self.bones) + [p for g in self.flesh_groups for p in g]
        return np.min([p.bbox_lo for p in parts], axis=0), np.max([p.bbox_hi for p in parts], axis=0)

    # -- fields ---------------------------------------------------------------
    @staticmethod
    def _box(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(points) == 0:  # nothing is near an empty set of points
            return np.full(3, np.inf), np.full(3, -np.inf)
        return points.min(axis=0), points.max(axis=0)

    def bone_sdf(self, points: np.ndarray, names: Sequence[str] | None = None, *,
                 with_defect: bool = True, marrow: bool = False) -> np.ndarray:
        """Signed distance to the union of bones (all, or ``names``), mm.

        With ``marrow``, the distance to the cancellous interior (bone shrunk by its
        cortex). With ``with_defect``, bone inside the defect's bone cut is removed.
        """
        box = self._box(points)
        d = np.full(len(points), _FAR_MM, dtype=points.dtype)
        for b in self.bones:
            if names is not None and b.name not in names:
                continue
            if not b.near(*box):
                continue
            db = b.sdf(points, box)
            d = np.minimum(d, db + b.cortex_mm if marrow else db)
        if with_defect and self.defect is not None:
            cut = self.defect.bone_cut_sdf(points)
            if cut is not None:
                d = np.maximum(d, -cut)
        return d

    def hallux_sdf(self, points: np.ndarray, *, with_defect: bool = True) -> np.ndarray:
        """Signed distance to the hallux bones (proximal + distal phalanx), mm."""
        return self.bone_sdf(points, HALLUX_BONES, with_defect=with_defect)

    def envelope_sdf(self, points: np.ndarray) -> np.ndarray:
        """Signed distance to the skin envelope before any wound, mm."""
        box = self._box(points)
        groups = []
        for gi, group in enumerate(self.flesh_groups):
            k = self.forefoot_blend_mm if gi == 0 else self.toe_blend_mm
            d = np.full(len(points), _FAR_MM, dtype=points.dtype)
            for part in group:
                if part.near(*box):
                    d = smooth_min(d, part.sdf(points, box), k)
            groups.append(d)
        toes = np.min(groups[1:], axis=0) if len(groups) > 1 else np.full(len(points), _FAR_MM, points.dtype)
        return smooth_min(groups[0], toes, self.web_blend_mm)

    def forefoot_envelope_sdf(self, points: np.ndarray) -> np.ndarray:
        """Signed distance to the soft tissue of the forefoot and midfoot without the toes, mm."""
        box = self._box(points)
        d = np.full(len(points), _FAR_MM, dtype=points.dtype)
        for part in self.flesh_groups[0]:
            if part.near(*box):
                d = smooth_min(d, part.sdf(points, box), self.forefoot_blend_mm)
        return d

    def toe_envelope_sdf(self, points: np.ndarray, ray: int) -> np.ndarray:
        """Signed distance to the soft tissue of one toe alone (ray 1 = hallux), mm.

        The smooth union of that toe's flesh parts, without the forefoot and the other
        toes: the whole envelope (``envelope_sdf``) is never smaller than this.
        """
        if not 1 <= ray <= len(self.flesh_groups) - 1:
            raise ValueError(f"ray must be 1..{len(self.flesh_groups) - 1}; got {ray}")
        box = self._box(points)
        d = np.full(len(points), _FAR_MM, dtype=points.dtype)
        for part in self.flesh_groups[ray]:
            if part.near(*box):
                d = smooth_min(d, part.sdf(points, box), self.toe_blend_mm)
        return d

    def translated(self, offset_mm: Sequence[float] | np.ndarray) -> FootModel:
        """The same foot moved rigidly by ``offset_mm`` (LPS, mm): every part, the wound
        and the landmarks move with it, and ``params.position_mm`` records the move."""
        t = np.asarray(offset_mm, float).reshape(3)
        p = self.params
        x, y, z = (float(a + b) for a, b in zip(p.position_mm, t, strict=True))
        params = replace(p, position_mm=(x, y, z))
        moved = build_foot(params)
        defect = self.defect
        if defect is not None:
            def shift(x: tuple[float, float, float]) -> tuple[float, float, float]:
                return tuple(float(a + b) for a, b in zip(x, t, strict=True))  # type: ignore[return-value]
            defect = replace(defect, crater_centre_mm=shift(defect.crater_centre_mm), site_mm=shift(defect.site_mm),
                             bone_cut_centre_mm=None if defect.bone_cut_centre_mm is None
                             else shift(defect.bone_cut_centre_mm))
        return replace(self, params=params, bones=moved.bones, flesh_groups=moved.flesh_groups,
                       defect=defect, landmarks_mm=moved.landmarks_mm)

    def body_sdf(self, points: np.ndarray) -> np.ndarray:
        """Signed distance to the body (soft tissue and bone, with the wound), mm."""
        env = self.envelope_sdf(points)
        # bones lie inside the skin envelope (checked by the tests), so they can only
        # shape the body where the envelope is near
        near = env < _BONE_REACH_MM
        body = env if self.defect is None else np.maximum(env, -self.defect.crater_sdf(points))
        if near.any():
            body[near] = np.minimum(body[near], self.bone_sdf(points[near]))
        return body

    def fat_sdf(self, points: np.ndarray, body: np.ndarray, bone: np.ndarray) -> np.ndarray:
        """Signed distance (approximate) to subcutaneous fat: under the skin, away from bone."""
        depth = -body
        return np.maximum.reduce([
            self.fat_skin_mm - depth,
            depth - (self.fat_skin_mm + self.fat_depth_mm),
            1.5 - bone,
        ])


def toe_contact_depth_mm(foot: FootModel, ray_a: int = 1, ray_b: int = 2, *, step_mm: float = 0.25) -> float:
    """How deep the soft tissues of two toes interpenetrate beyond the web, mm (negative: the gap).

    The largest depth ``-min(max(d_a, d_b, -d_forefoot))`` of a point inside both toe
    envelopes and outside the forefoot's, searched over the overlap of the two toes'
    boxes (grown by 4 mm): on a 1.2 mm grid, then at ``step_mm`` in the cells that can
    hold the minimum (the function changes by at most about 1 mm per mm). Positive
    means the toes touch distal to the web: their tissue is joined there, not only
    through the forefoot. Where the boxes are more than 4 mm apart, returns the gap
    between the boxes (< -4).
    """
    boxes = []
    for ray in (ray_a, ray_b):
        parts = foot.flesh_groups[ray]
        boxes.append((np.min([q.bbox_lo for q in parts], axis=0), np.max([q.bbox_hi for q in parts], axis=0)))
    lo = np.maximum(boxes[0][0], boxes[1][0]) - 4.0
    hi = np.minimum(boxes[0][1], boxes[1][1]) + 4.0
    if np.any(hi <= lo):
        return float(-np.max(np.maximum(boxes[0][0] - boxes[1][1], boxes[1][0] - boxes[0][1])))

    def field_(pts: np.ndarray) -> np.ndarray:
        return np.maximum.reduce([foot.toe_envelope_sdf(pts, ray_a), foot.toe_envelope_sdf(pts, ray_b),
                                  -foot.forefoot_envelope_sdf(pts)])

    coarse = 1.2
    axes = [np.arange(a, b + coarse, coarse) for a, b in zip(lo, hi, strict=True)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    values = field_(pts)
    # a cell can hold a lower value only if its centre is within half a diagonal (+ slack
    # for the approximate ellipsoid and blended distances) of the coarse minimum
    keep = pts[values <= values.min() + coarse * np.sqrt(3) / 2 + 0.5]
    n = int(np.ceil(coarse / step_mm))
    offs = (np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), axis=-1).reshape(-1, 3) + 0.5) * (coarse / n)
    fine = (keep[:, None, :] + offs[None] - coarse / 2).reshape(-1, 3)
    return float(-min(values.min(), field_(fine).min()))


# ----------------------------------------------------------------------------- building
def _bone_frame(ray: _Ray) -> np.ndarray:
    """Metatarsal frame -> foot frame (head centre, shaft direction)."""
    return translation(ray.head) @ abduction(ray.mt_abduction) @ flexion(ray.mt_declination)


def _toe_frames(ray: _Ray, params: FootParams) -> list[np.ndarray]:
    """Phalanx frames -> foot frame; each phalanx frame has its proximal joint at the origin."""
    flex: tuple[float, ...]
    if ray.index == 1:
        abd = ray.toe_abduction + params.hallux_valgus_deg
        flex = (params.hallux_mtp_flexion_deg, params.hallux_ip_flexion_deg)
    else:
        abd = ray.toe_abduction + params.toe_spread_deg * (ray.index - 1) / 4.0
        flex = ray.toe_joint_flexion
    frames = []
    current = translation(ray.head) @ abduction(abd) @ flexion(flex[0])
    start = ray.head_radius + _JOINT_GAP_MM
    for i, (length, *_r) in enumerate(ray.phalanges):
        frames.append(current)
        if i + 1 < len(ray.phalanges):
            joint = start + length + _JOINT_GAP_MM / 2
            current = current @ translation((joint, 0.0, 0.0)) @ flexion(flex[i + 1])
            start = _JOINT_GAP_MM / 2
    return frames


def _phalanx_starts(ray: _Ray) -> list[float]:
    starts = [ray.head_radius + _JOINT_GAP_MM]
    starts += [_JOINT_GAP_MM / 2] * (len(ray.phalanges) - 1)
    return starts


def _phalanx_name(ray: _Ray, i: int) -> str:
    if ray.index == 1:
        return HALLUX_BONES[i]
    return f"toe{ray.index}_{('proximal', 'middle', 'distal')[i]}_phalanx"


def _scaled(name: str, params: FootParams, frame: np.ndarray) -> np.ndarray:
    s = params.bone_scale.get(name, (1.0, 1.0, 1.0))
    return frame @ scaling(s)


def build_foot(params: FootParams, defect_kind: str | None = None,
               defect_rng: np.random.Generator | None = None) -> FootModel:
    """Place the canonical anatomy for one foot instance; add a hallux wound if asked.

    Parameters
    ----------
    params : instance parameters (side, pose, asymmetry, HU).
    defect_kind : ``None`` for an intact foot, else ``none`` | ``small`` | ``large``.
    defect_rng : random generator choosing the wound site and size.
    """
    f2p = params.foot_to_patient()
    ts = params.soft_tissue_scale
    bones: list[Part] = []
    forefoot: list[Part] = []
    toes: list[tuple[Part, ...]] = []
    frames: dict[str, np.ndarray] = {}

    for ray in _RAYS:
        name = f"metatarsal{ray.index}"
        mt_frame = _bone_frame(ray)
        frames[name] = mt_frame
        cortex = 2.0 if ray.index == 1 else 1.5
        bones.append(Part(name, _metatarsal(ray), 3.0, f2p @ _scaled(name, params, mt_frame), cortex,
                          _BONE_MARGIN_MM))
        # flesh around the metatarsal: thicker plantar than dorsal
        t = (5.0 if ray.index in (1, 5) else 6.5) * ts
        shift = 3.0 * ts
        forefoot.append(Part(f"{name}_flesh", (
            RoundCone((-ray.mt_length + 8.0, 0.0, -shift), (0.0, 0.0, -shift),
                      ray.base_radius + t, ray.head_radius + t),
        ), 0.0, f2p @ mt_frame))

        toe_parts: list[Part] = []
        for i, (frame, start, (length, r_base, r_shaft, r_head)) in enumerate(
            zip(_toe_frames(ray, params), _phalanx_starts(ray), ray.phalanges, strict=True)
        ):
            pname = _phalanx_name(ray, i)
            frames[pname] = frame
            last = i == len(ray.phalanges) - 1
            prims = _phalanx(length, r_base, r_shaft, r_head, start, ungual=last)
            bones.append(Part(pname, prims, 1.5, f2p @ _scaled(pname, params, frame),
                              1.2 if ray.index == 1 else 0.9, _BONE_MARGIN_MM))
            toe_parts.extend(_toe_flesh(ray, i, length, r_base, r_head, start, last, ts, f2p @ frame))
        toes.append(tuple(toe_parts))

    # sesamoids under the first metatarsal head (bones, but not hallux bones)
    mt1 = frames["metatarsal1"]
    for label, v in (("medial", -6.5), ("lateral", 6.5)):
        bones.append(Part(f"sesamoid_{label}", (Ellipsoid((-2.0, v, -12.5), (5.0, 3.5, 3.5)),), 0.0,
                          f2p @ mt1, 0.8, _BONE_MARGIN_MM))
    for name, centre, radii in _TARSALS:
        bones.append(Part(name, (Ellipsoid(centre, radii),), 0.0,
                          f2p @ _scaled(name, params, np.eye(4)), 1.0, _BONE_MARGIN_MM))
        grown = (radii[0] + 7.0 * ts, radii[1] + 7.0 * ts, radii[2] + 7.0 * ts)
        forefoot.append(Part(f"{name}_flesh", (Ellipsoid((centre[0], centre[1], centre[2] - 3.0 * ts), grown),),
                             0.0, f2p))
    # plantar fat pad under the metatarsal heads
    forefoot.append(Part("plantar_pad", (Ellipsoid((-8.0, 32.0, -12.0 - 1.0 * ts), (24.0, 42.0, 10.0 * ts)),),
                         0.0, f2p))

    landmarks = _landmarks(bones)
    foot = FootModel(params, tuple(bones), (tuple(forefoot), *toes), None, landmarks)
    if defect_kind is not None:
        if defect_rng is None:
            raise ValueError("build_foot needs defect_rng to place a defect")
        foot = FootModel(params, foot.bones, foot.flesh_groups,
                         _make_defect(foot, defect_kind, defect_rng), landmarks)
    return foot


def _toe_flesh(ray: _Ray, i: int, length: float, r_base: float, r_head: float, start: float,
               last: bool, ts: float, to_patient: np.ndarray) -> list[Part]:
    """Soft tissue around one phalanx: thicker plantar, a pulp and a tip beyond the tuft."""
    name = f"toe{ray.index}_flesh{i}"
    if ray.index == 1:
        t, shift = 4.3 * ts, 2.0 * ts
        if not last:
            prims: tuple[Primitive, ...] = (
                RoundCone((start + 4.0, 0.0, -shift), (start + length, 0.0, -shift), r_base + t, r_head + t),
            )
        else:
            prims = (
                RoundCone((start + 2.0, 0.0, -shift), (start + length - 3.0, 0.0, -shift - 0.5),
                          r_base + t - 0.5, r_head + 4.3 * ts),
                Ellipsoid((start + 0.62 * length, 0.0, -4.0 - 2.5 * ts), (0.42 * length, r_head + 3.0 * ts, 5.5 * ts)),
            )
        return [Part(name, prims, 4.0, to_patient)]
    t, shift = 3.2 * ts, 0.8 * ts
    prims = (RoundCone((start, 0.0, -shift), (start + length - (1.5 if last else 0.0), 0.0, -shift),
                       r_base + t, r_head + t + (0.6 if last else 0.0)),)
    return [Part(name, prims, 0.0, to_patient)]


def _ray_surface_point(part: Part, origin_local: np.ndarray, direction_local: np.ndarray) -> np.ndarray:
    """Point where the ray from ``origin_local`` (inside the part) leaves it, in part frame."""
    lo, hi = 0.0, 40.0
    d = direction_local / np.linalg.norm(direction_local)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        p = apply_affine(part.to_patient, (origin_local + mid * d)[None, :])
        if part.sdf(p)[0] < 0:
            lo = mid
        else:
            hi = mid
    return origin_local + 0.5 * (lo + hi) * d


def _landmarks(bones: Sequence[Part]) -> dict[str, np.ndarray]:
    by_name = {b.name: b for b in bones}
    pp, dp = by_name["hallux_proximal_phalanx"], by_name["hallux_distal_phalanx"]
    ray1 = _RAYS[0]
    start_p = ray1.head_radius + _JOINT_GAP_MM
    length_p, r_base_p = ray1.phalanges[0][0], ray1.phalanges[0][1]
    length_d = ray1.phalanges[1][0]
    rb_u = min(0.22 * length_p, 0.75 * r_base_p)
    tuft_local = np.array([_JOINT_GAP_MM / 2 + 0.8 * length_d, 0.0, -0.3])
    tip_local = _ray_surface_point(dp, tuft_local, np.array([1.0, 0.0, 0.0]))
    return {
        "hallux_tip": apply_affine(dp.to_patient, tip_local[None])[0],
        "interphalangeal_joint_centre": apply_affine(dp.to_patient, np.zeros((1, 3)))[0],
        "proximal_phalanx_base_centre": apply_affine(pp.to_patient, np.array([[start_p + rb_u, 0.0, 0.0]]))[0],
        "metatarsal1_head_centre": apply_affine(by_name["metatarsal1"].to_patient, np.zeros((1, 3)))[0],
        "metatarsal5_head_centre": apply_affine(by_name["metatarsal5"].to_patient, np.zeros((1, 3)))[0],
    }


def _surface_cloud(part: Part, centre_local: np.ndarray, n_dirs: int = 1500) -> np.ndarray:
    """Points on a part's surface (patient mm), found along rays from an interior point."""
    i = np.arange(n_dirs) + 0.5
    phi = np.arccos(1 - 2 * i / n_dirs)
    theta = np.pi * (1 + 5**0.5) * i
    dirs = np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)
    lo, hi = np.zeros(n_dirs), np.full(n_dirs, 40.0)
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        inside = part.sdf(apply_affine(part.to_patient, centre_local + mid[:, None] * dirs)) < 0
        lo, hi = np.where(inside, mid, lo), np.where(inside, hi, mid)
    return apply_affine(part.to_patient, centre_local + 0.5 * (lo + hi)[:, None] * dirs)


def _place_sphere(cloud: np.ndarray, site: np.ndarray, n: np.ndarray, radius: float, gap: float) -> np.ndarray:
    """Centre on the ray site + s n whose sphere of ``radius`` stays ``gap`` from the bone
    cloud (negative gap: it cuts ``-gap`` into the bone at its deepest)."""
    centre = site + n * (radius + gap)
    for _ in range(6):
        nearest = float(np.min(np.linalg.norm(cloud - centre, axis=1)))
        centre = centre + n * (gap - (nearest - radius))
    return centre


def _make_defect(foot: FootModel, kind: str, rng: np.random.Generator) -> Defect:
    """Choose a wound site on the distal phalanx and carve a crater (and, if large, bone).

    Depths are measured to the nearest bone point, so a healed (``none``) site keeps
    at least its cover everywhere and a wound exposes bone to the depth asked.
    """
    dp = foot.bone("hallux_distal_phalanx")
    length_d = _RAYS[0].phalanges[1][0]
    centre_local = np.array([_JOINT_GAP_MM / 2 + 0.6 * length_d, 0.0, -0.2])
    # Site direction in the phalanx frame: the tip, dorsal, medial or the plantar tip.
    sites = {
        "tip": (1.0, 0.0, 0.0),
        "dorsal": (0.25, 0.0, 1.0),
        "medial": (0.25, -1.0, 0.1),
        "plantar_tip": (0.8, 0.0, -0.6),
    }
    site = "tip" if kind == "large" else str(rng.choice(list(sites)))
    direction_local = np.asarray(sites[site]) + rng.normal(0.0, 0.12, 3)
    direction_local /= np.linalg.norm(direction_local)
    surface_local = _ray_surface_point(dp, centre_local, direction_local)
    site_mm = apply_affine(dp.to_patient, surface_local[None])[0]
    n = dp.to_patient[:3, :3] @ direction_local
    n /= np.linalg.norm(n)
    cloud = np.concatenate([_surface_cloud(dp, centre_local),
                            _surface_cloud(foot.bone("hallux_proximal_phalanx"),
                                           np.array([_RAYS[0].head_radius + 16.0, 0.0, 0.0]))])
    if kind == "none":
        # healed: a shallow scar leaves a thin but complete cover over the bone
        radius = float(rng.uniform(6.0, 8.0))
        centre = _place_sphere(cloud, site_mm, n, radius, float(rng.uniform(1.6, 2.6)))
        return Defect(kind, tuple(centre), radius, tuple(site_mm), tuple(n))
    if kind == "small":
        radius = float(rng.uniform(5.0, 7.0))
        centre = _place_sphere(cloud, site_mm, n, radius, -float(rng.uniform(0.6, 1.0)))
        return Defect(kind, tuple(centre), radius, tuple(site_mm), tuple(n))
    if kind == "large":
        radius = float(rng.uniform(8.0, 10.0))
        centre = _place_sphere(cloud, site_mm, n, radius, -float(rng.uniform(2.2, 3.0)))
        cut_radius = float(rng.uniform(3.5, 4.5))
        cut_centre = _place_sphere(cloud, site_mm, n, cut_radius, -float(rng.uniform(1.5, 2.2)))
        return Defect(kind, tuple(centre), radius, tuple(site_mm), tuple(n), tuple(cut_centre), cut_radius)
    raise ValueError(f"defect must be none, small or large; got {kind!r}")
