"""A dressing on the phantom's affected hallux: material on the skin that is not body.

Real feet come to CT wrapped: gauze, foam, or a thin dense layer (a foil, a
silver-coated or barium-marked dressing). SPEC counts such material as *outside*:
it is neither soft tissue nor bone, even where it touches the skin. The phantom
wraps the affected hallux (or the whole forefoot) in a shell that follows the
intact skin envelope (so it bridges a wound crater rather than filling it), from a
plane across the proximal phalanx (or the metatarsals) to beyond the toe tips, and
renders it only where there is no body. The truth is computed from the feet alone
and does not see it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bonecover.foot_model import FootModel
from bonecover.implicit import apply_affine
from bonecover.volume import Volume

__all__ = ["DRESSING_KINDS", "DRESSING_SITES", "Dressing", "dressing_fraction", "render_dressing",
           "sample_dressing"]

DRESSING_KINDS = ("none", "foil", "gauze", "dense")
DRESSING_SITES = ("hallux", "forefoot")
#: Where the wrap starts (mm, drawn): along the proximal phalanx from its base (hallux),
#: or proximal of the first metatarsal head centre (forefoot).
_START_MM = {"hallux": (0.0, 12.0), "forefoot": (15.0, 35.0)}
_CHUNK = 150_000
_HU_AIR = -1000.0

#: Ranges per kind: thickness (mm), attenuation (HU), gap to the skin (mm).
_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "foil": {"thickness_mm": (0.3, 0.5), "hu": (200.0, 2000.0), "gap_mm": (0.0, 0.3)},
    "gauze": {"thickness_mm": (2.0, 4.0), "hu": (-600.0, -200.0), "gap_mm": (0.0, 0.3)},
    # a thicker dense wrap, above the scanner's resolution: a silver or contrast-loaded
    # dressing, a plaster-like shell
    "dense": {"thickness_mm": (0.8, 1.5), "hu": (600.0, 2000.0), "gap_mm": (0.0, 0.3)},
}


@dataclass(frozen=True)
class Dressing:
    """A wrap around the hallux of one foot.

    Parameters
    ----------
    kind : ``foil``, ``gauze`` or ``dense``.
    thickness_mm : thickness of the wrap, mm.
    hu : attenuation of the wrap material, HU.
    gap_mm : distance between the intact skin envelope and the wrap, mm.
    start_mm : where the wrap begins; it covers everything distal to that, toe tips
        included. ``hallux``: mm along the proximal phalanx from its base (its proximal
        joint surface); ``forefoot``: mm proximal of the first metatarsal head centre.
    site : ``hallux`` (around the hallux alone, following its own skin) or ``forefoot``
        (around the whole forefoot and all toes, following the skin of the foot).
    """

    kind: str
    thickness_mm: float
    hu: float
    gap_mm: float
    start_mm: float
    site: str = "hallux"

    def __post_init__(self) -> None:
        if self.kind not in _RANGES:
            raise ValueError(f"Dressing.kind must be one of {', '.join(_RANGES)}; got {self.kind!r}")
        if self.site not in DRESSING_SITES:
            raise ValueError(f"Dressing.site must be one of {', '.join(DRESSING_SITES)}; got {self.site!r}")
        if self.thickness_mm <= 0 or self.gap_mm < 0:
            raise ValueError(f"Dressing needs thickness_mm > 0 and gap_mm >= 0; got "
                             f"{self.thickness_mm!r} and {self.gap_mm!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def sample_dressing(kind: str, rng: np.random.Generator, site: str = "hallux") -> Dressing:
    """Draw a ``foil``, ``gauze`` or ``dense`` dressing at ``site`` (thickness, HU, gap, proximal start)."""
    if kind not in _RANGES:
        raise ValueError(f"dressing kind must be one of {', '.join(_RANGES)}; got {kind!r}")
    if site not in _START_MM:
        raise ValueError(f"dressing site must be one of {', '.join(_START_MM)}; got {site!r}")
    r = _RANGES[kind]
    return Dressing(kind, float(rng.uniform(*r["thickness_mm"])), float(rng.uniform(*r["hu"])),
                    float(rng.uniform(*r["gap_mm"])), float(rng.uniform(*_START_MM[site])), site)


def _wrap_box(foot: FootModel, dressing: Dressing) -> tuple[np.ndarray, np.ndarray]:
    parts = foot.flesh_groups[1] if dressing.site == "hallux" else [p for g in foot.flesh_groups for p in g]
    grow = dressing.gap_mm + dressing.thickness_mm + 2.0
    return (np.min([p.bbox_lo for p in parts], axis=0) - grow, np.max([p.bbox_hi for p in parts], axis=0) + grow)


def _skin_sdf(foot: FootModel, dressing: Dressing, points: np.ndarray) -> np.ndarray:
    """Distance to the intact skin the wrap follows (the hallux's own, or the whole foot's), mm."""
    out = np.empty(len(points))
    for s in range(0, len(points), _CHUNK):
        p = points[s:s + _CHUNK]
        out[s:s + _CHUNK] = foot.toe_envelope_sdf(p, 1) if dressing.site == "hallux" else foot.envelope_sdf(p)
    return out


def _cut(foot: FootModel, dressing: Dressing, points: np.ndarray) -> tuple[np.ndarray, float]:
    """Coordinate along the wrapped part (mm) at (N, 3) points, and where the wrap starts on it."""
    if dressing.site == "hallux":
        pp = foot.bone("hallux_proximal_phalanx")
        start = float(np.min(pp.primitives[0].bbox()[0][0])) + dressing.start_mm  # from the phalanx base
        return apply_affine(np.linalg.inv(pp.to_patient), points)[:, 0], start  # mm within the bone's 2 % scale
    # foot frame: u = 0 at the first metatarsal head centre
    return apply_affine(np.linalg.inv(foot.params.foot_to_patient()), points)[:, 0], -dressing.start_mm


def _fraction(dressing: Dressing, d: np.ndarray, u: np.ndarray, start: float, width_mm: float) -> np.ndarray:
    def below(level: float, value: np.ndarray) -> np.ndarray:
        return np.clip(0.5 + (level - value) / width_mm, 0.0, 1.0)

    shell = below(dressing.gap_mm + dressing.thickness_mm, d) - below(dressing.gap_mm, d)
    return shell * (1.0 - below(start, u))


def dressing_fraction(foot: FootModel, dressing: Dressing, points: np.ndarray, width_mm: float) -> np.ndarray:
    """Partial-volume fraction of the wrap in voxels of size ``width_mm`` at (N, 3) LPS points.

    The wrap is the shell ``gap <= d <= gap + thickness`` of the distance ``d`` to the
    intact skin envelope (the hallux's own, or the whole foot's), cut by a plane across
    the proximal phalanx (or the metatarsals); each bound is a box-filtered
    (partial-volume) edge. Not yet limited to outside the body.
    """
    u, start = _cut(foot, dressing, points)
    return _fraction(dressing, _skin_sdf(foot, dressing, points), u, start, width_mm)


def render_dressing(hu: np.ndarray, occupied: np.ndarray, grid: Volume, foot: FootModel,
                    dressing: Dressing) -> None:
    """Add the wrap to an air-based rendering, in place, only where there is no body.

    Parameters
    ----------
    hu : (nk, nj, ni) float32 HU on ``grid`` (air -1000), modified in place.
    occupied : (nk, nj, ni) fraction of each voxel already filled (by the body); the
        wrap fills at most the rest, and its fraction is added here, in place, so that
        material rendered later (a foot rest) does not overlap it.
    grid : the series grid (LPS).
    foot : the foot whose hallux (or forefoot) is wrapped.
    dressing : the wrap.
    """
    lo, hi = _wrap_box(foot, dressing)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    ijk = grid.world_to_index(corners)
    size = np.array(grid.shape[::-1])
    start = np.clip(np.floor(ijk.min(axis=0)).astype(int), 0, size)
    stop = np.clip(np.ceil(ijk.max(axis=0)).astype(int) + 1, 0, size)
    if np.any(stop <= start):
        return
    shape = tuple(int(v) for v in (stop - start)[::-1])  # (k, j, i)
    width = float(np.prod(grid.spacing_mm) ** (1 / 3))
    mid, half = dressing.gap_mm + dressing.thickness_mm / 2, dressing.thickness_mm / 2
    # Only voxels the shell can reach are evaluated: first every ``step``-th voxel, then
    # the voxels near the nodes whose distance says the shell may pass (distances
    # change by at most about 1 mm per mm).
    step = 3
    nodes = np.stack(np.meshgrid(*(np.arange(start[a], stop[a], step) for a in (2, 1, 0)), indexing="ij"), axis=-1)
    d_nodes = _skin_sdf(foot, dressing, grid.index_to_world(nodes.reshape(-1, 3)[:, ::-1].astype(float)))
    reach = half + width + step * float(grid.spacing_mm.max()) * np.sqrt(3) + 0.5
    maybe = (np.abs(d_nodes - mid) < reach).reshape(nodes.shape[:3])
    for axis in range(3):
        maybe = np.repeat(maybe, step, axis=axis)
    idx_kji = np.argwhere(maybe[:shape[0], :shape[1], :shape[2]])
    if len(idx_kji) == 0:
        return
    idx = (idx_kji[:, ::-1] + start).astype(float)  # (i, j, k) in the grid
    d = _skin_sdf(foot, dressing, grid.index_to_world(idx))
    near = np.abs(d - mid) < half + width
    idx, idx_kji = idx[near], idx_kji[near]
    # A wrap thinner than about a voxel is integrated over n^3 sub-voxels, so its
    # partial volume does not bead with the grid; a thicker one is well served by the
    # box-filtered edges alone. Within a voxel the distance is taken as linear (the
    # skin's radius of curvature is many voxels): its value and gradient at the centre.
    n = 3 if dressing.thickness_mm < 1.5 * width else 1
    centres = grid.index_to_world(idx)
    d = d[near]
    if n == 1:
        u, start_u = _cut(foot, dressing, centres)
        f = _fraction(dressing, d, u, start_u, width)
    else:
        h = 0.25 * width
        grad = np.stack([(_skin_sdf(foot, dressing, centres + h * e) - d) / h for e in np.eye(3)], axis=1)
        offs = (np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), axis=-1).reshape(-1, 3) + 0.5) / n - 0.5
        step_mm = offs @ grid.affine[:3, :3].T  # (n^3, 3) sub-voxel offsets, LPS mm
        d_sub = d[:, None] + grad @ step_mm.T
        u, start_u = _cut(foot, dressing, (centres[:, None, :] + step_mm[None]).reshape(-1, 3))
        f = _fraction(dressing, d_sub.ravel(), u, start_u, width / n).reshape(-1, n**3).mean(axis=1)
    k, j, i = (idx_kji + start[::-1]).T
    f = np.minimum(f, 1.0 - np.clip(occupied[k, j, i], 0.0, 1.0))
    hu[k, j, i] += (f * (dressing.hu - _HU_AIR)).astype(np.float32)
    occupied[k, j, i] += f.astype(occupied.dtype)
