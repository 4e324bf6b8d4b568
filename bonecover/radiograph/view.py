"""Is this foot seen dorsoplantar? By the header when it says, else by the image.

ViewPosition (here) and PatientOrientation (the loader) name a lateral view when they
are there, and are checked first. Without them the image itself must tell. In a
dorsoplantar (DP) view the toes lie side by side: across the forefoot, lines
perpendicular to the foot's axis cross several toes (separate silhouettes where the
toes are apart) and several bones (phalanges, metatarsal heads) with soft tissue
between them. In a lateral view the toes and the metatarsals are superimposed: every
such line crosses one silhouette and one or two bone runs. A foot is taken as lateral
only when both hold, so a DP view of toes that touch (one silhouette) still passes on
its side-by-side bones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from bonecover.errors import InputError
from bonecover.radiograph.hallux import Foot2D
from bonecover.radiograph.segment import Segmentation

__all__ = ["LATERAL_VIEWS", "ForefootCrossing", "check_dorsoplantar", "check_view_position", "forefoot_crossings"]

#: ViewPosition values of lateral and oblique views.
LATERAL_VIEWS = ("LAT", "LL", "RL", "LATERAL", "LLO", "RLO", "ML", "LM")
#: Lines across the foot at these distances from its distal end, mm (toes and metatarsal heads).
_FROM_TIP_MM = np.arange(6.0, 61.0, 2.0)
#: Side-by-side bones are counted on the lines from this distance on (proximal phalanges and
#: metatarsal heads; nearer the tip only the longest toes reach).
_BONES_FROM_MM = 30.0
_STEP_MM = 0.2


@dataclass(frozen=True)
class ForefootCrossing:
    """What lines across the forefoot cross (one entry per line, distal to proximal).

    silhouettes : separate body runs of at least 3 mm (toes apart show as several).
    bone_runs : separate bone runs of at least 2 mm (gaps under 1 mm closed).
    from_tip_mm : the lines' distances from the distal end of the foot.
    """

    silhouettes: np.ndarray
    bone_runs: np.ndarray
    from_tip_mm: np.ndarray

    @property
    def side_by_side_fraction(self) -> float:
        """Fraction of the proximal lines (from 30 mm) that cross three or more bones."""
        sel = (self.from_tip_mm >= _BONES_FROM_MM) & (self.silhouettes > 0)
        return float(np.mean(self.bone_runs[sel] >= 3)) if sel.any() else 1.0

    @property
    def looks_lateral(self) -> bool:
        return bool(self.silhouettes.max(initial=0) <= 1 and self.side_by_side_fraction < 0.35)


def _runs(on: np.ndarray, min_mm: float, gap_mm: float) -> int:
    closed = ndimage.binary_closing(on, iterations=max(1, int(round(gap_mm / _STEP_MM / 2))))
    labels, n = ndimage.label(closed)
    if n == 0:
        return 0
    sizes = ndimage.sum_labels(closed, labels, np.arange(1, n + 1)) * _STEP_MM
    return int(np.sum(sizes >= min_mm))


def forefoot_crossings(seg: Segmentation, foot: Foot2D) -> ForefootCrossing:
    """Silhouettes and bone runs on lines across ``foot`` near its distal end."""
    image = seg.smooth
    xy = image.index_to_plane(np.argwhere(foot.mask).astype(float)) - foot.centre_mm
    along, across = xy @ foot.distal, xy @ foot.medial
    t = np.arange(across.min(), across.max(), _STEP_MM)
    bone = seg.bone & foot.mask
    shape = np.array(image.shape)
    sil, runs = [], []
    for s in _FROM_TIP_MM:
        pts = foot.centre_mm + (along.max() - s) * foot.distal + t[:, None] * foot.medial
        idx = np.rint(image.plane_to_index(pts)).astype(int)
        ok = np.all((idx >= 0) & (idx < shape), axis=1)
        on_body = np.zeros(len(t), bool)
        on_bone = np.zeros(len(t), bool)
        on_body[ok] = foot.mask[idx[ok, 0], idx[ok, 1]]
        on_bone[ok] = bone[idx[ok, 0], idx[ok, 1]]
        sil.append(_runs(on_body, 3.0, 0.5))
        runs.append(_runs(on_bone, 2.0, 1.0))
    return ForefootCrossing(np.array(sil), np.array(runs), _FROM_TIP_MM.copy())


def check_view_position(view_position: str, source: str) -> None:
    """Raise :class:`InputError` when the header's ViewPosition names a lateral view."""
    if view_position.upper().replace(" ", "") in LATERAL_VIEWS:
        raise InputError(f"{source}: ViewPosition {view_position!r} is a lateral view; bonecover needs a "
                         "dorsoplantar (DP/AP) foot radiograph")


def check_dorsoplantar(seg: Segmentation, foot: Foot2D, source: str) -> None:
    """Raise :class:`InputError` when ``foot`` looks like a lateral view (see the module's note)."""
    crossing = forefoot_crossings(seg, foot)
    if crossing.looks_lateral:
        raise InputError(f"{source}: the {foot.side} foot looks like a lateral view (toes and metatarsals "
                         "superimposed: one silhouette and mostly one or two bones across the forefoot); bonecover "
                         "needs a dorsoplantar (DP) foot radiograph")
