"""Synthetic CT of both feet with exact ground truth: the yardstick of every accuracy claim.

``make_phantom`` samples one patient (two mirror-image feet with realistic
asymmetry, different poses and a wound on the affected hallux), renders a CT
volume (partial-volume edges, a CT point-spread blur, noise) and computes the
truth of SPEC's metrics from the implicit geometry (``bonecover.truth``), never
from the rendered image. ``write_phantom`` stores it as a DICOM series plus
``truth.json``. Pure compute here; files are written by ``bonecover.io``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from bonecover.foot_model import FootModel, FootParams, TissueHU, build_foot
from bonecover.implicit import apply_affine
from bonecover.volume import Volume, affine_from_geometry

log = logging.getLogger(__name__)

__all__ = ["PhantomConfig", "PhantomSeries", "PhantomStudy", "make_phantom", "sample_feet", "write_phantom"]

HU_AIR = -1000.0
#: Image orientation of a feet-first supine axial scan: rows run to patient right.
FFS_DIRECTION = np.diag([-1.0, 1.0, -1.0])

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
    foot_rest : add a foot-rest plate and a foam cushion under the soles (None: by seed).
    """

    seed: int = 0
    layout: str = "bilateral"
    affected: str = "right"
    defect: str = "small"
    size: str = "small"
    foot_rest: bool | None = None

    def __post_init__(self) -> None:
        for name, allowed in (("layout", ("bilateral", "separate")), ("affected", ("left", "right")),
                              ("defect", ("none", "small", "large")), ("size", tuple(_SIZES))):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"PhantomConfig.{name} must be one of {', '.join(allowed)}; got {value!r}")

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
def _pose(rng: np.random.Generator, max_total_deg: float = 20.0) -> tuple[float, float, float]:
    """Abduction, plantar flexion, inversion (degrees) with a total rotation <= max."""
    pose = np.array([rng.uniform(-14, 14), rng.uniform(-15, 15), rng.uniform(-10, 10)])
    total = float(np.linalg.norm(pose))
    if total > max_total_deg:
        pose *= max_total_deg / total
    return tuple(float(v) for v in pose)  # type: ignore[return-value]


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
    feet: dict[str, FootModel] = {}
    for side in ("left", "right"):
        sign = 1.0 if side == "left" else -1.0
        affected = side == config.affected
        params = FootParams(
            side=side,
            position_mm=(sign * (gap_mm / 2 + 15.0) + rng.uniform(-5, 5), rng.uniform(-20, 20), rng.uniform(-12, 12)),
            pose_deg=_pose(rng),
            hallux_valgus_deg=float(rng.uniform(0.0, 6.0)),
            hallux_mtp_flexion_deg=float(rng.uniform(0.0, 10.0)),
            hallux_ip_flexion_deg=float(np.clip(ip_base + rng.uniform(-2.0, 2.0), 0.0, 10.0)),
            bone_scale={n: tuple(float(s) for s in 1.0 + rng.uniform(-0.02, 0.02, 3)) for n in bone_names},
            soft_tissue_scale=float(tissue * (rng.uniform(0.88, 1.0) if affected else 1.0)),
            toe_spread_deg=float(rng.uniform(-1.0, 4.0)),
            hu=TissueHU(
                soft_tissue=float(soft_hu + rng.uniform(-5, 5)),
                fat=float(rng.uniform(-120.0, -80.0)),
                cortex=float(rng.uniform(1000.0, 1600.0)),
                cancellous=float(rng.uniform(150.0, 350.0)),
            ),
        )
        feet[side] = build_foot(params, config.defect if affected else None, rng if affected else None)
    return feet


# ----------------------------------------------------------------------------- grids
def _foot_fov_box(foot: FootModel, proximal_mm: float, step_mm: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Patient-space box around the tissue of a foot from ``proximal_mm`` behind the
    first metatarsal head to the toe tips (found on a coarse rendering)."""
    lo, hi = foot.bbox_mm()
    coarse = _grid(lo, hi, step_mm, step_mm, None)
    _, body_fraction = render_ct({foot.side: foot}, coarse, block=16)
    k, j, i = np.nonzero(body_fraction > 0.0)
    world = coarse.index_to_world(np.stack([i, j, k], axis=1).astype(float))
    u = apply_affine(np.linalg.inv(foot.params.foot_to_patient()), world)[:, 0]
    world = world[u >= -proximal_mm]
    return world.min(axis=0) - step_mm, world.max(axis=0) + step_mm


def _grid(lo: np.ndarray, hi: np.ndarray, inplane_mm: float, slice_mm: float,
          matrix: int | None) -> Volume:
    """An empty FFS axial grid covering [lo, hi] (LPS mm)."""
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
    # FFS: i runs towards -x (patient right), j towards +y, k towards -z (stack from the head side down)
    origin = np.array([hi[0], lo[1], hi[2]])
    affine = affine_from_geometry(origin, (inplane_mm, inplane_mm, slice_mm), FFS_DIRECTION)
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
                K, J, I = np.meshgrid(kk, jj, ii, indexing="ij")
                idx = np.stack([I.ravel(), J.ravel(), K.ravel()], axis=1).astype(float)
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
                    hu[sub] += value.reshape(K.shape).astype(np.float32)
                    body_fraction[sub] += frac.reshape(K.shape).astype(np.float32)
    return hu, body_fraction


def _add_foot_rest(hu: np.ndarray, body_fraction: np.ndarray, grid: Volume, rng: np.random.Generator) -> dict:
    """A foam cushion touching the lowest sole and a plastic plate under it (both outside)."""
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
    f_cushion = np.clip((np.minimum(z_of_k + width / 2, top) - np.maximum(z_of_k - width / 2, top - cushion_mm)) / width, 0, 1)
    plate_top = top - cushion_mm
    f_plate = np.clip((np.minimum(z_of_k + width / 2, plate_top) - np.maximum(z_of_k - width / 2, plate_top - plate_mm)) / width, 0, 1)
    free = 1.0 - np.clip(body_fraction, 0.0, 1.0)
    hu += free * (f_cushion[:, None, None] * (cushion_hu - HU_AIR) + f_plate[:, None, None] * (plate_hu - HU_AIR)).astype(np.float32)
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
def make_phantom(config: PhantomConfig, *, with_truth: bool = True) -> PhantomStudy:
    """Synthesise a study for ``config``: rendered series, foot models and truth."""
    from bonecover.truth import compute_truth

    rng = np.random.default_rng(config.seed)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    feet = sample_feet(config, rng)
    size = _SIZES[config.size]
    inplane = float(rng.uniform(*size["inplane"]))
    slice_mm = float(rng.uniform(*size["slice"]))
    foot_rest = bool(rng.uniform() < 0.5) if config.foot_rest is None else config.foot_rest
    physics_rng = np.random.default_rng([config.seed, 1])

    boxes = {side: _foot_fov_box(foot, size["proximal_mm"]) for side, foot in feet.items()}
    margin = 6.0
    groups = [("both", ("left", "right"))] if config.layout == "bilateral" else [(s, (s,)) for s in ("left", "right")]
    series: list[PhantomSeries] = []
    imaging: dict[str, Any] = {"inplane_spacing_mm": inplane, "slice_spacing_mm": slice_mm}
    for name, sides in groups:
        lo = np.min([boxes[s][0] for s in sides], axis=0) - margin
        hi = np.max([boxes[s][1] for s in sides], axis=0) + margin
        if foot_rest:
            lo[2] -= 14.0  # room for cushion and plate under the soles
        spacing = inplane
        if size["matrix"] is not None:
            spacing = float(np.clip(max(hi[0] - lo[0], hi[1] - lo[1]) / size["matrix"], inplane, 0.55))
        grid = _grid(lo, hi, spacing, slice_mm, size["matrix"])
        hu, body_fraction = render_ct({s: feet[s] for s in sides}, grid)
        if foot_rest:
            imaging["foot_rest"] = _add_foot_rest(hu, body_fraction, grid, physics_rng)
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
        "feet": {side: _foot_description(foot) for side, foot in feet.items()},
    }
    return PhantomStudy(config, tuple(series), feet, truth, timings)


def _foot_description(foot: FootModel) -> dict[str, Any]:
    p = foot.params
    out: dict[str, Any] = {
        "position_mm": list(p.position_mm), "pose_deg": dict(zip(("abduction", "plantar_flexion", "inversion"), p.pose_deg, strict=True)),
        "hallux_valgus_deg": p.hallux_valgus_deg, "hallux_mtp_flexion_deg": p.hallux_mtp_flexion_deg,
        "hallux_ip_flexion_deg": p.hallux_ip_flexion_deg, "soft_tissue_scale": p.soft_tissue_scale,
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
    from bonecover.io.dicom_write import CTSeriesMeta, new_study_meta, write_ct_series
    from bonecover.io.atomic import write_json_atomic

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    study_meta = new_study_meta(study.config.seed)
    paths: dict[str, Path] = {}
    series_facts = {}
    for number, s in enumerate(study.series, start=1):
        folder = out_dir / ("ct" if s.name == "both" else f"ct_{s.name}")
        meta = CTSeriesMeta(study=study_meta, series_number=number, description=s.description,
                            laterality=s.laterality)
        uid = write_ct_series(s.volume, meta, folder)
        paths[s.name] = folder
        series_facts[s.name] = {"folder": folder.name, "series_instance_uid": uid, "laterality": s.laterality,
                                "shape_kji": list(s.volume.shape), "spacing_mm": [float(v) for v in s.volume.spacing_mm]}
    truth = dict(study.truth)
    truth["series"] = series_facts
    truth["study_instance_uid"] = study_meta.study_uid
    truth["frame_of_reference_uid"] = study_meta.frame_of_reference_uid
    paths["truth"] = write_json_atomic(out_dir / "truth.json", truth)
    return paths
