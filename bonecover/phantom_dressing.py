"""A dressing on the phantom's affected hallux: material on the skin that is not body.

Real feet come to CT wrapped: gauze, foam, or a thin dense layer (a foil, a
silver-coated or barium-marked dressing). SPEC counts such material as *outside*:
it is neither soft tissue nor bone, even where it touches the skin. The phantom
wraps the affected hallux in a shell that follows the toe's intact skin envelope
(so it bridges a wound crater rather than filling it), from a point on the
proximal phalanx to beyond the tip, and renders it only where there is no body.
The truth is computed from the feet alone and does not see it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bonecover.foot_model import FootModel
from bonecover.implicit import apply_affine
from bonecover.volume import Volume

__all__ = ["DRESSING_KINDS", "Dressing", "dressing_fraction", "render_dressing", "sample_dressing"]

DRESSING_KINDS = ("none", "foil", "gauze")
_HU_AIR = -1000.0

#: Ranges per kind: thickness (mm), attenuation (HU), gap to the skin (mm).
_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "foil": {"thickness_mm": (0.3, 0.5), "hu": (200.0, 2000.0), "gap_mm": (0.0, 0.3)},
    "gauze": {"thickness_mm": (2.0, 4.0), "hu": (-600.0, -200.0), "gap_mm": (0.0, 0.3)},
}


@dataclass(frozen=True)
class Dressing:
    """A wrap around the hallux of one foot.

    Parameters
    ----------
    kind : ``foil`` or ``gauze``.
    thickness_mm : thickness of the wrap, mm.
    hu : attenuation of the wrap material, HU.
    gap_mm : distance between the intact skin envelope of the toe and the wrap, mm.
    start_mm : where the wrap begins, mm along the proximal phalanx from its base
        (its proximal joint surface); it covers everything distal to that, tip included.
    """

    kind: str
    thickness_mm: float
    hu: float
    gap_mm: float
    start_mm: float

    def __post_init__(self) -> None:
        if self.kind not in _RANGES:
            raise ValueError(f"Dressing.kind must be one of {', '.join(_RANGES)}; got {self.kind!r}")
        if self.thickness_mm <= 0 or self.gap_mm < 0:
            raise ValueError(f"Dressing needs thickness_mm > 0 and gap_mm >= 0; got "
                             f"{self.thickness_mm!r} and {self.gap_mm!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def sample_dressing(kind: str, rng: np.random.Generator) -> Dressing:
    """Draw a ``foil`` or ``gauze`` dressing (thickness, HU, gap, proximal start)."""
    if kind not in _RANGES:
        raise ValueError(f"dressing kind must be one of {', '.join(_RANGES)}; got {kind!r}")
    r = _RANGES[kind]
    return Dressing(kind, float(rng.uniform(*r["thickness_mm"])), float(rng.uniform(*r["hu"])),
                    float(rng.uniform(*r["gap_mm"])), float(rng.uniform(0.0, 12.0)))


def _wrap_box(foot: FootModel, dressing: Dressing) -> tuple[np.ndarray, np.ndarray]:
    parts = foot.flesh_groups[1]
    grow = dressing.gap_mm + dressing.thickness_mm + 2.0
    return (np.min([p.bbox_lo for p in parts], axis=0) - grow, np.max([p.bbox_hi for p in parts], axis=0) + grow)


def dressing_fraction(foot: FootModel, dressing: Dressing, points: np.ndarray, width_mm: float) -> np.ndarray:
    """Partial-volume fraction of the wrap in voxels of size ``width_mm`` at (N, 3) LPS points.

    The wrap is the shell ``gap <= d <= gap + thickness`` of the distance ``d`` to the
    hallux's own skin envelope, cut by a plane across the proximal phalanx; each
    bound is a box-filtered (partial-volume) edge. Not yet limited to outside the body.
    """
    d = foot.toe_envelope_sdf(points, 1)

    def below(level: np.ndarray | float, value: np.ndarray) -> np.ndarray:
        return np.clip(0.5 + (level - value) / width_mm, 0.0, 1.0)

    shell = below(dressing.gap_mm + dressing.thickness_mm, d) - below(dressing.gap_mm, d)
    pp = foot.bone("hallux_proximal_phalanx")
    base = float(np.min(pp.primitives[0].bbox()[0][0]))  # proximal end of the phalanx, its own frame
    u = apply_affine(np.linalg.inv(pp.to_patient), points)[:, 0]  # mm within the bone's +-2 % scale
    return shell * (1.0 - below(base + dressing.start_mm, u))


def render_dressing(hu: np.ndarray, body_fraction: np.ndarray, grid: Volume, foot: FootModel,
                    dressing: Dressing) -> None:
    """Add the wrap to an air-based rendering, in place, only where there is no body.

    Parameters
    ----------
    hu : (nk, nj, ni) float32 HU on ``grid`` (air -1000), modified in place.
    body_fraction : (nk, nj, ni) fraction of each voxel inside the body (the wrap fills
        at most the rest).
    grid : the series grid (LPS).
    foot : the foot whose hallux is wrapped.
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
    K, J, I = np.meshgrid(*(np.arange(start[a], stop[a]) for a in (2, 1, 0)), indexing="ij")
    pts = grid.index_to_world(np.stack([I.ravel(), J.ravel(), K.ravel()], axis=1).astype(float))
    width = float(np.prod(grid.spacing_mm) ** (1 / 3))
    sub = (slice(start[2], stop[2]), slice(start[1], stop[1]), slice(start[0], stop[0]))
    free = 1.0 - np.clip(body_fraction[sub], 0.0, 1.0)
    # A wrap thinner than a voxel is integrated over n^3 sub-voxels where it passes, so
    # its partial volume does not bead with the grid; elsewhere the shell is empty.
    d = foot.toe_envelope_sdf(pts, 1)
    near = np.abs(d - dressing.gap_mm - dressing.thickness_mm / 2) < dressing.thickness_mm / 2 + width
    f = np.zeros(len(pts))
    if near.any():
        n = 3
        offs = (np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), axis=-1).reshape(-1, 3) + 0.5) / n - 0.5
        idx = np.stack([I.ravel(), J.ravel(), K.ravel()], axis=1)[near].astype(float)
        fine = grid.index_to_world((idx[:, None, :] + offs[None]).reshape(-1, 3))
        f[near] = dressing_fraction(foot, dressing, fine, width / n).reshape(-1, n**3).mean(axis=1)
    f = np.minimum(f.reshape(K.shape), free)
    hu[sub] += (f * (dressing.hu - _HU_AIR)).astype(np.float32)
