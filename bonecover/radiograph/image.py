"""A 2-D image (or mask) that carries its plane geometry, in millimetres.

Plane coordinates ``(x, y)`` are millimetres in the image plane at the patient:
``x`` along a row (increasing column), ``y`` down a column (increasing row), the
centre of pixel (0, 0) at ``origin_mm``. For a loaded radiograph the origin is
(0, 0) and the spacing is the detector spacing divided by the radiographic
magnification when the header gives one; for the projection phantom the plane is
the patient's x-y plane (LPS) and the origin is that of the field of view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Image2D"]


@dataclass(frozen=True, eq=False)
class Image2D:
    """Pixels plus plane geometry.

    Parameters
    ----------
    array : (rows, cols) image or mask; stored read-only.
    spacing_mm : (between rows, between columns) in plane mm.
    origin_mm : (x, y) plane position of the centre of pixel (0, 0), mm.
    """

    array: np.ndarray
    spacing_mm: tuple[float, float]
    origin_mm: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        arr = np.asarray(self.array)
        if arr.ndim != 2:
            raise ValueError(f"Image2D array must be 2-D (rows, cols); got shape {arr.shape}")
        sp = tuple(float(v) for v in self.spacing_mm)
        if len(sp) != 2 or not all(np.isfinite(sp)) or min(sp) <= 0:
            raise ValueError(f"Image2D spacing_mm must be two positive numbers; got {self.spacing_mm!r}")
        arr = arr.view()
        arr.flags.writeable = False
        object.__setattr__(self, "array", arr)
        object.__setattr__(self, "spacing_mm", sp)
        object.__setattr__(self, "origin_mm", (float(self.origin_mm[0]), float(self.origin_mm[1])))

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.array.shape[0]), int(self.array.shape[1])

    @property
    def pixel_area_mm2(self) -> float:
        return self.spacing_mm[0] * self.spacing_mm[1]

    def index_to_plane(self, rc: np.ndarray) -> np.ndarray:
        """(N, 2) (row, col) indices (may be fractional) -> (N, 2) plane (x, y) mm."""
        rc = np.asarray(rc, float).reshape(-1, 2)
        return np.stack([self.origin_mm[0] + rc[:, 1] * self.spacing_mm[1],
                         self.origin_mm[1] + rc[:, 0] * self.spacing_mm[0]], axis=1)

    def plane_to_index(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) plane (x, y) mm -> (N, 2) fractional (row, col) indices."""
        xy = np.asarray(xy, float).reshape(-1, 2)
        return np.stack([(xy[:, 1] - self.origin_mm[1]) / self.spacing_mm[0],
                         (xy[:, 0] - self.origin_mm[0]) / self.spacing_mm[1]], axis=1)

    def with_array(self, array: np.ndarray) -> Image2D:
        """The same geometry with other pixels (same shape)."""
        if np.shape(array) != self.shape:
            raise ValueError(f"with_array needs shape {self.shape}; got {np.shape(array)}")
        return Image2D(array, self.spacing_mm, self.origin_mm)

    def crop(self, rows: slice, cols: slice) -> Image2D:
        """A sub-image; the origin moves so every pixel keeps its plane position."""
        r0 = rows.start or 0
        c0 = cols.start or 0
        origin = self.index_to_plane(np.array([[r0, c0]]))[0]
        return Image2D(self.array[rows, cols], self.spacing_mm, (origin[0], origin[1]))

    def __repr__(self) -> str:
        return (f"Image2D(shape={self.shape}, spacing_mm=({self.spacing_mm[0]:.4f}, {self.spacing_mm[1]:.4f}), "
                f"origin_mm=({self.origin_mm[0]:.2f}, {self.origin_mm[1]:.2f}), dtype={self.array.dtype})")
