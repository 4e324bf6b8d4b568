"""Synthetic CT of both feet with exact ground truth: the yardstick of every accuracy claim.

``make_phantom`` samples one patient (two mirror-image feet with realistic
asymmetry, different poses and a wound on the affected hallux), renders a CT
volume (partial-volume edges, a CT point-spread blur, noise) and computes the
truth of SPEC's metrics from the implicit geometry (``bonecover.truth``), never
from the rendered image. ``write_phantom`` stores it as a DICOM series plus
``truth.json``. Pure compute here; files are written by ``bonecover.io``.

Scan and pose variations real studies have are options of :class:`PhantomConfig`:
head-first or feet-first patient position, any voxel size, a volume origin at
(0, 0, 0), strongly plantar-flexed feet with a stack starting at the toe tips,
toes whose soft tissues touch, and a foil, gauze or dense dressing on the affected hallux
or forefoot.
None of them changes the truth's definitions: the scene moves, the grid changes,
or material is added outside the body.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from bonecover.errors import InputError
from bonecover.foot_model import FootModel, FootParams, TissueHU, build_foot, toe_contact_depth_mm
from bonecover.implicit import apply_affine
from bonecover.phantom_dressing import DRESSING_KINDS, DRESSING_SITES, render_dressing, sample_dressing
from bonecover.volume import Volume, affine_from_geometry

log = logging.getLogger(__name__)

__all__ = ["PhantomConfig", "PhantomSeries", "PhantomStudy", "make_phantom", "sample_feet", "write_phantom"]

HU_AIR = -1000.0
#: Image orientation of a feet-first supine axial scan: rows run to patient right.
FFS_DIRECTION = np.diag([-1.0, 1.0, -1.0])
#: Row (i) and column (j) directions (LPS) of an axial image per DICOM PatientPosition:
#: feet-first supine rows run to patient right, head-first supine rows to patient left.
IMAGE_AXES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "FFS": ((-1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "HFS": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
}
#: Acquisition matrices a scanner offers, smallest first (used when a voxel size is forced).
_MATRICES = (512, 768, 1024)

#: Grid and field of view per size: in-plane and slice spacing ranges (mm) and how far
#: proximal to the first metatarsal head the field of view reaches (mm, foot frame).
_SIZES: dict[str, dict[str, Any]] = {
    "small": {"inplane": (0.55, 0.65), "slice": (0.6, 0.75), "proximal_mm": 40.0, "matrix": None},
    "clinical": {"inplane": (0.40, 0.50), "slice": (0.5, 0.6), "proximal_mm": 150.0, "matrix": 512},
}


@dataclass(frozen=True)
class PhantomConfig:
    """What to synthesise. Mirrors the options of ``bonecover phantom``.

    Parameters
    ----------
    seed : random seed; the same seed gives the same anatomy, pose and noise.
    layout : ``bilateral`` (one series with both feet) or ``separate`` (one series per foot).
    affected : side of the wounded foot, ``left`` or ``right``.
    defect : ``none`` (healed, thin cover), ``small`` or ``large`` (also removes bone).
    size : ``small`` (about 0.6 mm, forefeet only; for tests) or ``clinical``
        (512 x 512 at 0.4-0.5 mm, fore- and midfeet; for benchmarks).
    foot_rest : add a foot-rest plate and a foam cushion under the soles (None: by seed;
        never by seed when the stack starts at the toe tips).
    patient_position : DICOM PatientPosition, ``FFS`` (feet first supine: rows run to
        patient right, ImageOrientationPatient [-1,0,0,0,1,0]) or ``HFS`` (head first
        supine: [1,0,0,0,1,0], so the slices run against the orientation's normal).
        The feet stay where they are in patient coordinates; only the grid changes.
    voxel_mm : in-plane pixel spacing, mm (None: drawn from the size's range). With
        ``clinical`` the matrix is 512, or 768 / 1024 when 512 pixels do not cover the feet.
    slice_mm : slice spacing (= thickness), mm (None: drawn from the size's range).
    origin_at_zero : move the whole scene (feet, landmarks, truth) so that the first
        voxel of each series is at (0, 0, 0) mm. With ``separate`` each foot moves by its
        own series' offset and each series gets its own frame of reference.
    plantar_flexion_deg : (min, max) range of the whole-foot plantar flexion, degrees,
        drawn per foot (e.g. (30, 60): toes towards the scanner's feet end, the foot's
        long axis near the scanner z axis). None: the usual ±15 degrees. The 20-degree cap
        on the total rotation then applies to abduction and inversion only.
    stack_from_toe_tips : the series starts (first slice, InstanceNumber 1) at the lowest
        tissue -- the toe tips of plantar-flexed feet -- with at most 0.5 mm of air, and
        runs towards the head.
    toes_touching : the hallux leans on the second toe (more valgus, less toe spread), so
        that their soft tissues merge distal to the web into one connected body (both feet).
    dressing : ``none``, ``foil`` (a 0.3-0.5 mm wrap of 200-2000 HU), ``gauze`` (2-4 mm of
        -600 to -200 HU) or ``dense`` (0.8-1.5 mm of 600-2000 HU) around the affected hallux,
        lying on the skin but outside the body.
        The truth does not change.
    dressing_site : ``hallux`` (the wrap follows the hallux alone, from its proximal
        phalanx) or ``forefoot`` (the whole forefoot and all toes, from 15-35 mm proximal
        of the first metatarsal head).
    """

    seed: int = 0
    layout: str = "bilateral"
    affected: str = "right"
    defect: str = "small"
    size: str = "small"
    foot_rest: bool | None = None
    patient_position: str = "FFS"
    voxel_mm: float | None = None
    slice_mm: float | None = None
    origin_at_zero: bool = False
    plantar_flexion_deg: tuple[float, float] | None = None
    stack_from_toe_tips: bool = False
    toes_touching: bool = False
    dressing: str = "none"
    dressing_site: str = "hallux"

    def __post_init__(self) -> None:
        for name, allowed in (("layout", ("bilateral", "separate")), ("affected", ("left", "right")),
                              ("defect", ("none", "small", "large")), ("size", tuple(_SIZES)),
                              ("patient_position", tuple(IMAGE_AXES)), ("dressing", DRESSING_KINDS),
                              ("dressing_site", DRESSING_SITES)):
            value = getattr(self, name)
            if value not in allowed:
                raise InputError(f"PhantomConfig.{name} must be one of {', '.join(allowed)}; got {value!r}")
        for name, top in (("voxel_mm", 3.0), ("slice_mm", 5.0)):
            value = getattr(self, name)
            if value is not None and not 0.2 <= value <= top:
                raise InputError(f"PhantomConfig.{name} must be between 0.2 and {top:g} mm; got {value!r}")
        if self.plantar_flexion_deg is not None:
            lo, hi = self.plantar_flexion_deg
            if not -30.0 <= lo <= hi <= 75.0:
                raise InputError("PhantomConfig.plantar_flexion_deg must be (min, max) with "
                                 f"-30 <= min <= max <= 75 degrees; got {self.plantar_flexion_deg!r}")

    @property
    def healthy(self) -> str:
        return "left" if self.affected == "right" else "right"


@dataclass(frozen=True, eq=False)
class PhantomSeries:
    """One rendered CT series: HU volume with geometry, and what it shows."""

    name: str
    volume: Volume
    laterality: str | None  # "L" / "R" for single-foot series, None for both feet
    description: str


@dataclass(frozen=True, eq=False)
class PhantomStudy:
    """A synthetic study: series, the foot models behind them, and the exact truth."""

    config: PhantomConfig
    series: tuple[PhantomSeries, ...]
    feet: dict[str, FootModel]
    truth: dict[str, Any]
    timings_s: dict[str, float] = field(default_factory=dict)


# ----------------------------------------------------------------------------- sampling
def _pose(rng: np.random.Generator, max_total_deg: float = 20.0,
          plantar_flexion_deg: tuple[float, float] | None = None) -> tuple[float, float, float]:
    """Abduction, plantar flexion, inversion (degrees) of one foot.

    Without ``plantar_flexion_deg`` the three are drawn around neutral and scaled so
    that their total rotation is <= ``max_total_deg``. With a (min, max) range, the
    flexion is drawn from that range and the cap applies to the other two rotations
    (the deviation from the asked flexion). The same random numbers are used either way.
    """
    pose = np.array([rng.uniform(-14, 14), rng.uniform(-15, 15), rng.uniform(-10, 10)])
    if plantar_flexion_deg is not None:
        lo, hi = plantar_flexion_deg
        flex = lo + (pose[1] + 15.0) / 30.0 * (hi - lo)
        rest = pose[[0, 2]]
        total = float(np.linalg.norm(rest))
        if total > max_total_deg:
            rest *= max_total_deg / total
        pose = np.array([rest[0], flex, rest[1]])
    total = float(np.linalg.norm(pose))
    if plantar_flexion_deg is None and total > max_total_deg:
        pose *= max_total_deg / total
    return tuple(float(v) for v in pose)  # type: ignore[return-value]


def _lean_on_second_toe(params: FootParams, rng: np.random.Generator) -> FootParams:
    """More hallux valgus and less toe spread, until hallux and second toe tissue merge.

    The valgus is found by bisection so that the two toes' soft tissues interpenetrate
    by a drawn 1.0-2.5 mm beyond the web (``toe_contact_depth_mm``).
    """
    target = float(rng.uniform(1.0, 2.5))
    params = replace(params, toe_spread_deg=float(rng.uniform(-3.0, 0.0)))

    def depth(valgus: float) -> float:
        return toe_contact_depth_mm(build_foot(replace(params, hallux_valgus_deg=valgus)), step_mm=0.4)

    lo, hi = params.hallux_valgus_deg, 30.0
    if depth(lo) >= target:
        return params
    for _ in range(9):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if depth(mid) >= target else (mid, hi)
    return replace(params, hallux_valgus_deg=float(hi))


def _scale3(rng: np.random.Generator) -> tuple[float, float, float]:
    """Per-axis shape asymmetry of one bone: 1 +- 2 %."""
    s = 1.0 + rng.uniform(-0.02, 0.02, 3)
    return float(s[0]), float(s[1]), float(s[2])


def sample_feet(config: PhantomConfig, rng: np.random.Generator) -> dict[str, FootModel]:
    """Draw one patient: a left and a right foot, the affected one wounded."""
    bone_names = [f"metatarsal{i}" for i in range(1, 6)] + [
        "hallux_proximal_phalanx", "hallux_distal_phalanx", "medial_cuneiform", "intermediate_cuneiform",
        "lateral_cuneiform", "cuboid", "navicular", "talus_head", "calcaneus",
    ] + [f"toe{r}_{p}_phalanx" for r in range(2, 6) for p in ("proximal", "middle", "distal")]
    gap_mm = rng.uniform(25.0, 60.0) if config.size == "small" else rng.uniform(12.0, 30.0)
    ip_base = rng.uniform(0.0, 8.0)
    soft_hu = rng.uniform(25.0, 55.0)
    tissue = rng.uniform(0.95, 1.1)
    contact_rng = np.random.default_rng([config.seed, 3])  # own stream: the rest of the patient stays
    feet: dict[str, FootModel] = {}
    for side in ("left", "right"):
        sign = 1.0 if side == "left" else -1.0
        affected = side == config.affected
        params = FootParams(
            side=side,
            position_mm=(sign * (gap_mm / 2 + 15.0) + rng.uniform(-5, 5), rng.uniform(-20, 20), rng.uniform(-12, 12)),
            pose_deg=_pose(rng, plantar_flexion_deg=config.plantar_flexion_deg),
            hallux_valgus_deg=float(rng.uniform(0.0, 6.0)),
            hallux_mtp_flexion_deg=float(rng.uniform(0.0, 10.0)),
            hallux_ip_flexion_deg=float(np.clip(ip_base + rng.uniform(-2.0, 2.0), 0.0, 10.0)),
            bone_scale={n: _scale3(rng) for n in bone_names},
            soft_tissue_scale=float(tissue * (rng.uniform(0.88, 1.0) if affected else 1.0)),
            toe_spread_deg=float(rng.uniform(-1.0, 4.0)),
            hu=TissueHU(
                soft_tissue=float(soft_hu + rng.uniform(-5, 5)),
                fat=float(rng.uniform(-120.0, -80.0)),
                cortex=float(rng.uniform(1000.0, 1600.0)),
                cancellous=float(rng.uniform(150.0, 350.0)),
            ),
        )
        if config.toes_touching:
            params = _lean_on_second_toe(params, contact_rng)
        feet[side] = build_foot(params, config.defect if affected else None, rng if affected else None)
    return feet


# ----------------------------------------------------------------------------- grids
_COARSE_MM = 2.0


def _coarse_tissue(foot: FootModel, proximal_mm: float, step_mm: float = _COARSE_MM) -> np.ndarray:
    """(N, 3) LPS centres of ``step_mm`` voxels holding tissue of a foot, from ``proximal_mm``
    behind the first metatarsal head to the toe tips (a coarse rendering)."""
    lo, hi = foot.bbox_mm()
    coarse = _grid(lo, hi, step_mm, step_mm, None)
    _, body_fraction = render_ct({foot.side: foot}, coarse, block=16)
    k, j, i = np.nonzero(body_fraction > 0.0)
    world = coarse.index_to_world(np.stack([i, j, k], axis=1).astype(float))
    u = apply_affine(np.linalg.inv(foot.params.foot_to_patient()), world)[:, 0]
    return world[u >= -proximal_mm]


def _fov_box(coarse_tissue: np.ndarray, step_mm: float = _COARSE_MM) -> tuple[np.ndarray, np.ndarray]:
    """Patient-space box around coarse tissue voxel centres, grown by one coarse voxel."""
    return coarse_tissue.min(axis=0) - step_mm, coarse_tissue.max(axis=0) + step_mm


def _lowest_tissue_z(feet: list[FootModel], coarse_tissue: np.ndarray, step_mm: float = 0.25) -> float:
    """Height (LPS z, mm) of the lowest tissue point of ``feet``, within about 0.05 mm.

    Refines the coarse rendering near its bottom: on a ``step_mm`` grid, each point
    inside the body with signed distance ``s < 0`` proves tissue down to ``z + s``; the
    lowest such bound is tight where a grid point lies just above the lowest point.
    """
    z0 = float(coarse_tissue[:, 2].min())
    low = coarse_tissue[coarse_tissue[:, 2] <= z0 + _COARSE_MM]
    lo = np.array([*(low[:, :2].min(axis=0) - 2 * _COARSE_MM), z0 - _COARSE_MM])
    hi = np.array([*(low[:, :2].max(axis=0) + 2 * _COARSE_MM), z0 + 1.5 * _COARSE_MM])
    axes = [np.arange(a, b + step_mm, step_mm) for a, b in zip(lo, hi, strict=True)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    s = np.min([f.body_sdf(pts) for f in feet], axis=0)
    inside = s < 0
    if not inside.any():  # nothing at this height: the coarse bottom is the best we know
        return z0 - _COARSE_MM / 2
    return float(np.min(pts[inside, 2] + s[inside]))


def _grid(lo: np.ndarray, hi: np.ndarray, inplane_mm: float, slice_mm: float,
          matrix: int | None, *, patient_position: str = "FFS", ascending: bool = False) -> Volume:
    """An empty axial grid covering [lo, hi] (LPS mm).

    Rows and columns follow ``patient_position`` (``IMAGE_AXES``); slices run from the
    head side down (k towards -z) or, with ``ascending``, from the feet side up (k
    towards +z), starting at ``lo[2]``. With ``matrix``, ``matrix`` x ``matrix`` pixels
    centred on the box.
    """
    extent = hi - lo
    if matrix is None:
        ni = int(np.ceil(extent[0] / inplane_mm)) + 1
        nj = int(np.ceil(extent[1] / inplane_mm)) + 1
    else:
        ni = nj = matrix
        centre = 0.5 * (lo + hi)
        half = 0.5 * (matrix - 1) * inplane_mm
        lo = np.array([centre[0] - half, centre[1] - half, lo[2]])
        hi = np.array([centre[0] + half, centre[1] + half, hi[2]])
    nk = int(np.ceil(extent[2] / slice_mm)) + 1
    row, col = IMAGE_AXES[patient_position]
    direction = np.column_stack([row, col, (0.0, 0.0, 1.0 if ascending else -1.0)])
    # each index axis starts at the low end of the box where it runs towards +, else at the high end
    origin = np.where(direction.sum(axis=1) > 0, lo, hi)
    affine = affine_from_geometry(origin, (inplane_mm, inplane_mm, slice_mm), direction)
    return Volume(np.zeros((nk, nj, ni), dtype=np.float32), affine)


# ----------------------------------------------------------------------------- rendering
def _fraction(sdf: np.ndarray, width_mm: float) -> np.ndarray:
    """Partial-volume fraction of a voxel of size ``width_mm`` inside the surface sdf = 0."""
    return np.clip(0.5 - sdf / width_mm, 0.0, 1.0)


def _render_foot_block(foot: FootModel, points: np.ndarray, width_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """HU increment over air and body fraction for one foot at (N, 3) LPS points."""
    hu = foot.hu
    value = np.zeros(len(points))
    f_body = np.zeros(len(points))
    env = foot.envelope_sdf(points)
    near = env < 4.0  # bone never reaches further out of the skin envelope than this
    if not near.any():
        return value, f_body
    p = points[near]
    bo = foot.bone_sdf(p)
    b = np.minimum(env[near] if foot.defect is None else np.maximum(env[near], -foot.defect.crater_sdf(p)), bo)
    f_body[near] = _fraction(b, width_mm)
    marrow = foot.bone_sdf(p, marrow=True)
    fat = foot.fat_sdf(p, b, bo)
    fb = f_body[near]
    f_bone = _fraction(bo, width_mm)
    f_marrow = np.minimum(_fraction(marrow, width_mm), f_bone)
    f_fat = np.minimum(_fraction(fat, width_mm), fb - f_bone).clip(0.0)
    value[near] = (fb * (hu.soft_tissue - HU_AIR) + f_fat * (hu.fat - hu.soft_tissue)
                   + f_bone * (hu.cortex - hu.soft_tissue) + f_marrow * (hu.cancellous - hu.cortex))
    return value, f_body


def render_ct(feet: dict[str, FootModel], grid: Volume, *, block: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free, unblurred HU and body fraction of the feet on ``grid``.

    Returns
    -------
    hu : (nk, nj, ni) float32 attenuation, HU (air -1000).
    body_fraction : (nk, nj, ni) float32 fraction of each voxel inside either foot.
    """
    nk, nj, ni = grid.shape
    width = float(np.prod(grid.spacing_mm) ** (1 / 3))
    hu = np.full(grid.shape, HU_AIR, dtype=np.float32)
    body_fraction = np.zeros(grid.shape, dtype=np.float32)
    boxes = {side: foot.bbox_mm() for side, foot in feet.items()}
    for k0 in range(0, nk, block):
        for j0 in range(0, nj, block):
            for i0 in range(0, ni, block):
                kk, jj, ii = (np.arange(a, min(a + block, n)) for a, n in ((k0, nk), (j0, nj), (i0, ni)))
                k_idx, j_idx, i_idx = np.meshgrid(kk, jj, ii, indexing="ij")
                idx = np.stack([i_idx.ravel(), j_idx.ravel(), k_idx.ravel()], axis=1).astype(float)
                pts = grid.index_to_world(idx).astype(np.float32)
                lo, hi = pts.min(axis=0), pts.max(axis=0)
                sub = (slice(k0, k0 + len(kk)), slice(j0, j0 + len(jj)), slice(i0, i0 + len(ii)))
                for side, foot in feet.items():
                    blo, bhi = boxes[side]
                    if np.any(blo - 2.0 > hi) or np.any(bhi + 2.0 < lo):
                        continue
                    if not foot.may_hold_tissue(lo - width, hi + width):
                        continue
                    value, frac = _render_foot_block(foot, pts, width)
                    hu[sub] += value.reshape(k_idx.shape).astype(np.float32)
                    body_fraction[sub] += frac.reshape(k_idx.shape).astype(np.float32)
    return hu, body_fraction


def _add_foot_rest(hu: np.ndarray, body_fraction: np.ndarray, grid: Volume, rng: np.random.Generator,
                   occupied: np.ndarray | None = None) -> dict:
    """A foam cushion touching the lowest sole and a plastic plate under it (both outside).

    ``occupied`` (default: ``body_fraction``) is what already fills each voxel (body,
    dressing): the foot rest fills the rest.
    """
    sole_slices = np.nonzero(body_fraction.max(axis=(1, 2)) > 0.5)[0]
    z_of_k = grid.index_to_world(np.array([[0, 0, k] for k in range(grid.shape[0])], float))[:, 2]
    z_sole = float(z_of_k[sole_slices].min())
    cushion_mm = float(rng.uniform(3.0, 6.0))
    plate_mm = float(rng.uniform(5.0, 9.0))
    cushion_hu = float(rng.uniform(-850.0, -700.0))
    plate_hu = float(rng.uniform(150.0, 400.0))
    width = float(grid.spacing_mm[2])
    # fraction along z of the cushion slab [z_sole - cushion, z_sole + 0.5 width] and the plate below it
    top = z_sole + 0.5 * width
    f_cushion = np.clip((np.minimum(z_of_k + width / 2, top)
                         - np.maximum(z_of_k - width / 2, top - cushion_mm)) / width, 0, 1)
    plate_top = top - cushion_mm
    f_plate = np.clip((np.minimum(z_of_k + width / 2, plate_top)
                       - np.maximum(z_of_k - width / 2, plate_top - plate_mm)) / width, 0, 1)
    free = 1.0 - np.clip(body_fraction if occupied is None else occupied, 0.0, 1.0)
    hu += free * (f_cushion[:, None, None] * (cushion_hu - HU_AIR)
                  + f_plate[:, None, None] * (plate_hu - HU_AIR)).astype(np.float32)
    return {"cushion_hu": cushion_hu, "cushion_mm": cushion_mm, "plate_hu": plate_hu, "plate_mm": plate_mm,
            "plate_top_z_mm": plate_top}


def _image_physics(hu: np.ndarray, grid: Volume, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """CT point-spread blur and correlated noise; returns HU and what was applied."""
    psf_sigma_mm = float(rng.uniform(0.3, 0.45))
    noise_hu = float(rng.uniform(10.0, 20.0))
    sigma_vox = psf_sigma_mm / grid.spacing_mm[::-1]  # array axes are (k, j, i)
    out = ndimage.gaussian_filter(hu, sigma_vox, mode="nearest")
    noise = rng.standard_normal(hu.shape).astype(np.float32)
    noise = ndimage.gaussian_filter(noise, 0.6)
    noise *= noise_hu / float(noise.std())
    out += noise
    return out, {"psf_sigma_mm": psf_sigma_mm, "noise_hu": noise_hu}


# ----------------------------------------------------------------------------- study
def _series_grid(config: PhantomConfig, feet: list[FootModel], coarse: np.ndarray, inplane_mm: float,
                 slice_mm: float, foot_rest: bool, scan_rng: np.random.Generator) -> Volume:
    """The empty grid of one series showing ``feet`` (their coarse tissue ``coarse``)."""
    size = _SIZES[config.size]
    lo, hi = _fov_box(coarse)
    margin = 6.0
    lo, hi = lo - margin, hi + margin
    if config.stack_from_toe_tips:
        # the first slice lies at most 0.5 mm below the lowest tissue: no air margin
        lo[2] = _lowest_tissue_z(feet, coarse) - float(scan_rng.uniform(0.0, 0.5))
    elif foot_rest:
        lo[2] -= 14.0  # room for cushion and plate under the soles
    matrix = size["matrix"]
    spacing = inplane_mm
    if matrix is not None:
        need = max(hi[0] - lo[0], hi[1] - lo[1])
        if config.voxel_mm is None:
            spacing = float(np.clip(need / matrix, inplane_mm, 0.55))
        else:
            fits = [m for m in _MATRICES if (m - 1) * spacing >= need]
            if not fits:
                raise InputError(f"voxel_mm={spacing:g} mm needs more than {_MATRICES[-1]} pixels for a "
                                 f"{need:.0f} mm field of view; choose a larger voxel")
            matrix = fits[0]
    return _grid(lo, hi, spacing, slice_mm, matrix, patient_position=config.patient_position,
                 ascending=config.stack_from_toe_tips)


def make_phantom(config: PhantomConfig, *, with_truth: bool = True) -> PhantomStudy:
    """Synthesise a study for ``config``: rendered series, foot models and truth.

    Random streams are separate per concern, so a variation changes only what it is
    about: the same seed gives the same patient (anatomy, pose, wound) with or
    without a dressing, in any patient position, at any voxel size.
    """
    from bonecover.truth import compute_truth

    rng = np.random.default_rng(config.seed)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    feet = sample_feet(config, rng)
    size = _SIZES[config.size]
    inplane = float(rng.uniform(*size["inplane"]))
    slice_mm = float(rng.uniform(*size["slice"]))
    inplane = inplane if config.voxel_mm is None else float(config.voxel_mm)
    slice_mm = slice_mm if config.slice_mm is None else float(config.slice_mm)
    by_seed = bool(rng.uniform() < 0.5)
    foot_rest = (by_seed and not config.stack_from_toe_tips) if config.foot_rest is None else config.foot_rest
    physics_rng = np.random.default_rng([config.seed, 1])
    dressing = (sample_dressing(config.dressing, np.random.default_rng([config.seed, 2]), config.dressing_site)
                if config.dressing != "none" else None)
    scan_rng = np.random.default_rng([config.seed, 4])

    coarse = {side: _coarse_tissue(foot, size["proximal_mm"]) for side, foot in feet.items()}
    groups: list[tuple[str, tuple[str, ...]]] = (
        [("both", ("left", "right"))] if config.layout == "bilateral" else [(s, (s,)) for s in ("left", "right")])
    plans: list[tuple[str, tuple[str, ...], Volume]] = []
    origin_shift: dict[str, list[float]] = {}
    for name, sides in groups:
        grid = _series_grid(config, [feet[s] for s in sides], np.concatenate([coarse[s] for s in sides]),
                            inplane, slice_mm, foot_rest, scan_rng)
        if config.origin_at_zero:
            # move the scene, not the header: the feet (and so the truth) follow the grid
            offset = -grid.affine[:3, 3].copy()
            moved = grid.affine.copy()
            moved[:3, 3] = 0.0
            grid = Volume(grid.array, moved)
            for s in sides:
                feet[s] = feet[s].translated(offset)
            origin_shift[name] = [float(v) for v in offset]
        plans.append((name, sides, grid))

    series: list[PhantomSeries] = []
    imaging: dict[str, Any] = {"inplane_spacing_mm": inplane, "slice_spacing_mm": slice_mm}
    for name, sides, grid in plans:
        hu, body_fraction = render_ct({s: feet[s] for s in sides}, grid)
        occupied = body_fraction.copy()
        if dressing is not None and config.affected in sides:
            render_dressing(hu, occupied, grid, feet[config.affected], dressing)
        if foot_rest:
            imaging["foot_rest"] = _add_foot_rest(hu, body_fraction, grid, physics_rng, occupied)
        hu, physics = _image_physics(hu, grid, physics_rng)
        imaging.update(physics)
        imaging[f"{name}_spacing_mm"] = [float(v) for v in grid.spacing_mm]
        laterality = None if len(sides) == 2 else ("L" if sides[0] == "left" else "R")
        desc = "Phantom feet bilateral" if laterality is None else f"Phantom foot {sides[0]}"
        series.append(PhantomSeries(name, grid.with_array(hu), laterality,
                                    f"{desc} {grid.spacing_mm[2]:.2f}mm BONE"))
    timings["render"] = time.perf_counter() - t0

    truth: dict[str, Any] = {"landmarks": {
        role: {k: [float(x) for x in v] for k, v in feet[side].landmarks_mm.items()}
        for role, side in (("affected", config.affected), ("healthy", config.healthy))
    }}
    if with_truth:
        t1 = time.perf_counter()
        truth.update(compute_truth(feet[config.affected], feet[config.healthy]))
        timings["truth"] = time.perf_counter() - t1
    truth["phantom"] = {
        "seed": config.seed, "layout": config.layout, "affected": config.affected, "defect": config.defect,
        "size": config.size, "foot_rest": foot_rest, "imaging": imaging,
        "patient_position": config.patient_position,
        "voxel_mm": config.voxel_mm, "slice_mm": config.slice_mm,
        "origin_at_zero": config.origin_at_zero, "origin_shift_mm": origin_shift,
        "plantar_flexion_deg": None if config.plantar_flexion_deg is None else list(config.plantar_flexion_deg),
        "stack_from_toe_tips": config.stack_from_toe_tips,
        "toes_touching": config.toes_touching,
        "dressing": None if dressing is None else dressing.to_json(),
        "series_geometry": {name: {"origin_mm": [float(v) for v in grid.affine[:3, 3]],
                                   "direction": grid.direction.tolist(), "shape_kji": list(grid.shape)}
                            for name, _, grid in plans},
        "feet": {side: _foot_description(foot) for side, foot in feet.items()},
    }
    return PhantomStudy(config, tuple(series), feet, truth, timings)


def _foot_description(foot: FootModel) -> dict[str, Any]:
    p = foot.params
    out: dict[str, Any] = {
        "position_mm": list(p.position_mm),
        "pose_deg": dict(zip(("abduction", "plantar_flexion", "inversion"), p.pose_deg, strict=True)),
        "hallux_valgus_deg": p.hallux_valgus_deg, "hallux_mtp_flexion_deg": p.hallux_mtp_flexion_deg,
        "hallux_ip_flexion_deg": p.hallux_ip_flexion_deg, "soft_tissue_scale": p.soft_tissue_scale,
        "toe_spread_deg": p.toe_spread_deg,
        "hallux_second_toe_contact_mm": toe_contact_depth_mm(foot),
        "hu": vars(p.hu),
    }
    if foot.defect is not None:
        d = foot.defect
        out["defect"] = {"kind": d.kind, "site_mm": list(d.site_mm), "direction": list(d.direction),
                         "crater_centre_mm": list(d.crater_centre_mm), "crater_radius_mm": d.crater_radius_mm,
                         "bone_cut_centre_mm": None if d.bone_cut_centre_mm is None else list(d.bone_cut_centre_mm),
                         "bone_cut_radius_mm": d.bone_cut_radius_mm}
    return out


def write_phantom(study: PhantomStudy, out_dir: Path) -> dict[str, Path]:
    """Write the study's DICOM series and ``truth.json`` under ``out_dir``; returns paths."""
    from pydicom.uid import generate_uid

    from bonecover.io.atomic import write_json_atomic
    from bonecover.io.dicom_write import CTSeriesMeta, new_study_meta, write_ct_series

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = study.config
    study_meta = new_study_meta(config.seed)
    paths: dict[str, Path] = {}
    series_facts = {}
    for number, s in enumerate(study.series, start=1):
        folder = out_dir / ("ct" if s.name == "both" else f"ct_{s.name}")
        # separate series each moved to origin zero no longer share one frame of reference
        own_frame = config.origin_at_zero and number > 1
        frame_uid = generate_uid() if own_frame else study_meta.frame_of_reference_uid
        meta = CTSeriesMeta(study=study_meta, series_number=number, description=s.description,
                            laterality=s.laterality, patient_position=config.patient_position,
                            frame_of_reference_uid=frame_uid)
        uid = write_ct_series(s.volume, meta, folder)
        paths[s.name] = folder
        series_facts[s.name] = {"folder": folder.name, "series_instance_uid": uid, "laterality": s.laterality,
                                "shape_kji": list(s.volume.shape),
                                "spacing_mm": [float(v) for v in s.volume.spacing_mm],
                                "frame_of_reference_uid": frame_uid,
                                "patient_position": config.patient_position,
                                "origin_mm": [float(v) for v in s.volume.origin_mm],
                                "image_orientation_patient": [float(v) for v in np.concatenate(
                                    [s.volume.direction[:, 0], s.volume.direction[:, 1]])]}
    truth = dict(study.truth)
    truth["series"] = series_facts
    truth["study_instance_uid"] = study_meta.study_uid
    truth["frame_of_reference_uid"] = study_meta.frame_of_reference_uid
    paths["truth"] = write_json_atomic(out_dir / "truth.json", truth)
    return paths
