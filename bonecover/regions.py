"""The hallux frame and its regions (dorsal, plantar, medial, lateral, tip).

The frame's long axis runs from the centre of the proximal phalanx base to the
hallux tip; ``dorsal`` is the foot's dorsal normal made perpendicular to it and
``medial`` points towards the body's midline. A bone-surface point belongs to
``tip`` if it lies within ``TIP_LENGTH_MM`` of the tip along the axis, otherwise to
the quadrant (90 degrees each) its direction from the axis falls in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["REGIONS", "TIP_LENGTH_MM", "HalluxFrame", "classify_regions"]

REGIONS = ("dorsal", "plantar", "medial", "lateral", "tip")
#: Length of the tip region along the hallux axis, mm (the ungual tuberosity).
TIP_LENGTH_MM = 6.0


@dataclass(frozen=True, eq=False)
class HalluxFrame:
    """Anatomical frame of one hallux in patient coordinates (LPS, mm).

    Parameters
    ----------
    base_mm : (3,) centre of the proximal phalanx base.
    tip_mm : (3,) distal end of the distal phalanx.
    dorsal : (3,) unit dorsal direction, perpendicular to the long axis.
    medial : (3,) unit medial direction, perpendicular to axis and dorsal.
    """

    base_mm: np.ndarray
    tip_mm: np.ndarray
    dorsal: np.ndarray
    medial: np.ndarray

    @classmethod
    def from_directions(cls, base_mm: np.ndarray, tip_mm: np.ndarray, dorsal_hint: np.ndarray,
                        medial_hint: np.ndarray) -> HalluxFrame:
        """Build the frame from the axis end points and rough dorsal/medial directions."""
        base, tip = np.asarray(base_mm, float), np.asarray(tip_mm, float)
        axis = tip - base
        if np.linalg.norm(axis) < 1e-6:
            raise ValueError(f"hallux base and tip coincide at {base.tolist()}")
        axis /= np.linalg.norm(axis)
        dorsal = np.asarray(dorsal_hint, float) - (np.asarray(dorsal_hint, float) @ axis) * axis
        if np.linalg.norm(dorsal) < 1e-6:
            raise ValueError("the dorsal direction is parallel to the hallux axis")
        dorsal /= np.linalg.norm(dorsal)
        medial = np.cross(axis, dorsal)
        if medial @ np.asarray(medial_hint, float) < 0:
            medial = -medial
        return cls(base, tip, dorsal, medial)

    @property
    def axis(self) -> np.ndarray:
        """(3,) unit vector from base to tip."""
        a = self.tip_mm - self.base_mm
        return a / np.linalg.norm(a)

    @property
    def length_mm(self) -> float:
        return float(np.linalg.norm(self.tip_mm - self.base_mm))

    def to_json(self) -> dict[str, list[float]]:
        return {k: [float(v) for v in getattr(self, k)] for k in ("base_mm", "tip_mm", "dorsal", "medial")}


def classify_regions(points_mm: np.ndarray, frame: HalluxFrame,
                     tip_length_mm: float = TIP_LENGTH_MM) -> np.ndarray:
    """Region index (into ``REGIONS``) of each of (N, 3) bone-surface points."""
    rel = np.asarray(points_mm, float) - frame.base_mm
    along = rel @ frame.axis
    d = rel @ frame.dorsal
    m = rel @ frame.medial
    angle = np.degrees(np.arctan2(m, d))  # 0 dorsal, +90 medial, +-180 plantar, -90 lateral
    region = np.where(np.abs(angle) <= 45.0, 0, np.where(np.abs(angle) >= 135.0, 1, np.where(angle > 0, 2, 3)))
    region = np.where(along >= frame.length_mm - tip_length_mm, 4, region)
    return region.astype(np.int8)
