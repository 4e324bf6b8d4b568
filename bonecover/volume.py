"""Image volumes that carry their patient geometry (DICOM LPS, millimetres).

Every volume and mask in bonecover is a :class:`Volume`: a 3-D array plus a 4x4
affine that maps voxel indices to patient coordinates. Crops, resamplings and
reflections return new volumes with a corrected affine, so spacing, origin and
direction are never loose variables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

__all__ = ["Volume", "affine_from_geometry"]


def affine_from_geometry(
    origin_mm: np.ndarray | tuple[float, ...],
    spacing_mm: np.ndarray | tuple[float, ...],
    direction: np.ndarray | None = None,
) -> np.ndarray:
    """Build the 4x4 index-to-LPS affine from origin, spacing and direction.

    Parameters
    ----------
    origin_mm : (3,) LPS position of the centre of voxel (0, 0, 0), mm.
    spacing_mm : (3,) voxel size along index axes i (column), j (row), k (slice), mm.
    direction : (3, 3) unit column vectors of the i, j, k axes in LPS (identity if None).
    """
    origin = np.asarray(origin_mm, dtype=float).reshape(3)
    spacing = np.asarray(spacing_mm, dtype=float).reshape(3)
    d = np.eye(3) if direction is None else np.asarray(direction, dtype=float).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = d * spacing[np.newaxis, :]
    affine[:3, 3] = origin
    return affine


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3-D image or mask with its geometry in patient coordinates (LPS, mm).

    Parameters
    ----------
    array : (nk, nj, ni) array indexed [slice, row, column], the order SimpleITK's
        ``GetArrayFromImage`` returns. Stored read-only; stages never modify inputs.
    affine : (4, 4) maps homogeneous voxel indices (i, j, k, 1) -- column, row,
        slice -- to LPS millimetres. Must be finite with a non-singular 3x3 part.
    """

    array: np.ndarray
    affine: np.ndarray

    def __post_init__(self) -> None:
        arr = np.asarray(self.array)
        if arr.ndim != 3:
            raise ValueError(f"Volume array must be 3-D (slices, rows, columns); got shape {arr.shape}")
        aff = np.array(self.affine, dtype=float)
        if aff.shape != (4, 4):
            raise ValueError(f"Volume affine must be 4x4; got shape {aff.shape}")
        if not np.all(np.isfinite(aff)):
            raise ValueError(f"Volume affine must be finite; got {aff.tolist()}")
        if not np.allclose(aff[3], [0, 0, 0, 1]):
            raise ValueError(f"Volume affine last row must be [0, 0, 0, 1]; got {aff[3].tolist()}")
        if abs(np.linalg.det(aff[:3, :3])) < 1e-9:
            raise ValueError(f"Volume affine is singular: {aff[:3, :3].tolist()}")
        view = arr.view()
        view.flags.writeable = False
        aff.flags.writeable = False
        object.__setattr__(self, "array", view)
        object.__setattr__(self, "affine", aff)

    # -- geometry -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (slices, rows, columns)."""
        return tuple(int(s) for s in self.array.shape)  # type: ignore[return-value]

    @property
    def size_ijk(self) -> tuple[int, int, int]:
        """Number of voxels along i (columns), j (rows), k (slices)."""
        nk, nj, ni = self.shape
        return ni, nj, nk

    @property
    def spacing_mm(self) -> np.ndarray:
        """(3,) voxel size along i, j, k in mm."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    @property
    def origin_mm(self) -> np.ndarray:
        """(3,) LPS position of the centre of voxel (0, 0, 0), mm."""
        return self.affine[:3, 3].copy()

    @property
    def direction(self) -> np.ndarray:
        """(3, 3) unit column vectors of the i, j, k index axes in LPS."""
        return self.affine[:3, :3] / self.spacing_mm[np.newaxis, :]

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm^3."""
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    def index_to_world(self, ijk: np.ndarray) -> np.ndarray:
        """Map (N, 3) voxel indices (i, j, k), possibly fractional, to (N, 3) LPS mm."""
        ijk = np.asarray(ijk, dtype=float)
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]

    def world_to_index(self, xyz_mm: np.ndarray) -> np.ndarray:
        """Map (N, 3) LPS points in mm to (N, 3) fractional voxel indices (i, j, k)."""
        xyz = np.asarray(xyz_mm, dtype=float)
        inv = np.linalg.inv(self.affine[:3, :3])
        return (xyz - self.affine[:3, 3]) @ inv.T

    def bounds_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned LPS bounding box (min, max) of the voxel centres, mm."""
        ni, nj, nk = self.size_ijk
        corners = np.array(
            [[i, j, k] for i in (0, ni - 1) for j in (0, nj - 1) for k in (0, nk - 1)], dtype=float
        )
        world = self.index_to_world(corners)
        return world.min(axis=0), world.max(axis=0)

    # -- derived volumes -------------------------------------------------------
    def with_array(self, array: np.ndarray) -> Volume:
        """A new volume on the same grid holding ``array`` (same shape required)."""
        if np.shape(array) != self.array.shape:
            raise ValueError(
                f"with_array needs shape {self.array.shape} to keep the geometry; got {np.shape(array)}"
            )
        return Volume(array, self.affine)

    def crop(self, k: slice, j: slice, i: slice) -> Volume:
        """Sub-volume for index ranges (slices, rows, columns), geometry corrected."""
        ks, js, is_ = (s.indices(n)[0] for s, n in zip((k, j, i), self.shape, strict=True))
        for s in (k, j, i):
            if s.step not in (None, 1):
                raise ValueError(f"crop takes unit-step slices; got {s}")
        affine = self.affine.copy()
        affine[:3, 3] = self.index_to_world(np.array([[is_, js, ks]], dtype=float))[0]
        return Volume(self.array[k, j, i], affine)

    # -- SimpleITK bridge -----------------------------------------------------
    def to_sitk(self) -> sitk.Image:
        """The same volume as a SimpleITK image (LPS, same origin/spacing/direction)."""
        image = sitk.GetImageFromArray(np.ascontiguousarray(self.array))
        image.SetOrigin(tuple(float(v) for v in self.origin_mm))
        image.SetSpacing(tuple(float(v) for v in self.spacing_mm))
        image.SetDirection(tuple(float(v) for v in self.direction.reshape(-1)))
        return image

    @classmethod
    def from_sitk(cls, image: sitk.Image) -> Volume:
        """A volume from a 3-D SimpleITK image, keeping its LPS geometry."""
        if image.GetDimension() != 3:
            raise ValueError(f"from_sitk needs a 3-D image; got {image.GetDimension()}-D")
        array = sitk.GetArrayFromImage(image)
        direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
        return cls(array, affine_from_geometry(image.GetOrigin(), image.GetSpacing(), direction))

    def __repr__(self) -> str:
        sp = ", ".join(f"{v:.3g}" for v in self.spacing_mm)
        return f"Volume(shape={self.shape}, dtype={self.array.dtype}, spacing_mm=({sp}))"
