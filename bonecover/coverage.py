"""Stage 6: soft-tissue coverage of the hallux bones, as SPEC defines it.

Both surfaces are placed with sub-voxel precision where the image really has its
edge: at half height between the values on either side, measured locally (so a
thin cortex, a cut cancellous face and skin over fat all get their own level).
The bone surface is the periosteal surface of the hallux bones; the skin surface
bounds the body. Thickness at a bone-surface element is the Euclidean distance
(patient mm, the real anisotropic spacing) to the nearest point of the skin
surface, i.e. to the nearest outside point; statistics are area-weighted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.measure import marching_cubes

from bonecover.errors import AnalysisError
from bonecover.metrics import regional_coverage, surface_coverage
from bonecover.regions import HalluxFrame, classify_regions
from bonecover.segment import Tissues, skin_edge_level_hu
from bonecover.surface import SurfaceSamples, distance_to_mesh, enclosed_volume_mm3, surface_samples
from bonecover.volume import Volume

__all__ = ["CoverageOptions", "HalluxCoverage", "hallux_surface", "measure_coverage"]

#: Neighbourhood over which the inside and outside values of an edge are taken, mm.
EDGE_REACH_MM = 0.8
#: Darker than this (after smoothing) is air, not blurred soft tissue, HU.
AIR_LIKE_HU = -850.0
#: The outside value of a bone edge is taken no lower than soft tissue minus this, HU.
BONE_EDGE_FLOOR_BELOW_SOFT_HU = 250.0
#: Bone within this distance of the outside (voxel centres) is bared, mm.
BARED_WITHIN_MM = 1.0
#: Smoothing before edges are located: against noise, light enough to keep edges sharp, mm.
EDGE_SMOOTH_MM = 0.25
#: How far beyond the hallux bones the crop reaches (deepest soft tissue + shell), mm.
CROP_MARGIN_MM = 22.0


@dataclass(frozen=True)
class CoverageOptions:
    """Definitions' parameters (SPEC): exposure threshold and shell width, mm."""

    min_cover_mm: float = 1.0
    shell_mm: float = 5.0


@dataclass(frozen=True, eq=False)
class HalluxCoverage:
    """Coverage of one hallux: SPEC metrics and the surface they were measured on.

    Parameters
    ----------
    metrics : SPEC keys (bone_area_mm2, thickness_mm, exposed_area_mm2,
        covered_fraction, soft_tissue_volume_ml, bone_volume_ml, regions).
    surface : bone-surface elements (LPS mm).
    thickness_mm : (N,) soft-tissue thickness per element, mm.
    region : (N,) region index per element (``bonecover.regions.REGIONS``).
    """

    metrics: dict[str, Any]
    surface: SurfaceSamples
    thickness_mm: np.ndarray
    region: np.ndarray


def _mesh_in_patient_space(field: np.ndarray, volume: Volume) -> tuple[np.ndarray, np.ndarray]:
    """Zero level set of a (k, j, i) field as a mesh in LPS mm with outward faces (field > 0 inside)."""
    verts_kji, faces, _, _ = marching_cubes(field, 0.0, allow_degenerate=False)
    verts = volume.index_to_world(verts_kji[:, ::-1])
    if len(faces) == 0:
        return verts, faces
    a, b, c = (verts[faces[:, i]] for i in range(3))
    signed = np.einsum("ij,ij->i", a, np.cross(b, c)).sum()
    if signed < 0:  # make the faces wind outwards whatever the handedness of the grid
        faces = faces[:, ::-1]
    return verts, faces


def _edge_field(smooth: np.ndarray, inside: np.ndarray, outside: np.ndarray, reach_vox: np.ndarray,
                floor_hu: float, bared: np.ndarray) -> np.ndarray:
    """Signed edge field: positive where HU is above the local half-height level.

    The level is half way between the brightest and darkest values nearby. Where
    the bone is bared (``bared``: near bone that touches the outside, no soft tissue
    between) and the darkest is air, the edge is half way to air; elsewhere the
    darkest is taken no lower than ``floor_hu``: bone under even a thin layer of soft
    tissue meets soft tissue, and the skin's blurred edge beyond it must not pull the
    bone edge outwards. ``inside`` is forced positive and ``outside`` negative, so
    the only zero crossing is the edge between.
    """
    size = tuple(int(2 * r + 1) for r in reach_vox)
    high = ndimage.maximum_filter(smooth, size=size)
    low = ndimage.minimum_filter(smooth, size=size)
    low = np.where(bared & (low < AIR_LIKE_HU), low, np.maximum(low, floor_hu))
    field = smooth - 0.5 * (high + low)
    field[inside] = 1000.0
    field[outside] = -1000.0
    return field


def hallux_surface(tissues: Tissues, hallux_bone: Volume
                   ) -> tuple[np.ndarray, np.ndarray, Volume, np.ndarray, tuple[slice, ...]]:
    """Sub-voxel periosteal surface of the hallux bones on a crop around them.

    Returns the mesh (vertices LPS mm, faces), the crop's HU volume, its smoothed
    HU array and the crop's index box in the foot's grid.
    """
    mask = np.asarray(hallux_bone.array, bool)
    if not mask.any():
        raise AnalysisError("no hallux bone voxels to measure")
    spacing_kji = tissues.ct.spacing_mm[::-1]
    margin = np.ceil(CROP_MARGIN_MM / spacing_kji).astype(int)
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(axis=0) - margin, 0)
    hi = np.minimum(idx.max(axis=0) + margin + 1, mask.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    ct = tissues.ct.crop(*box)
    hu = np.asarray(ct.array, np.float32)
    # at least 0.6 voxel: on coarse grids noise would otherwise wrinkle the edge surfaces
    smooth = ndimage.gaussian_filter(hu, np.maximum(EDGE_SMOOTH_MM / spacing_kji, 0.6))
    reach = np.maximum(np.round(EDGE_REACH_MM / spacing_kji), 1).astype(int)
    hallux = mask[box]
    inside = ndimage.binary_erosion(hallux, iterations=2)
    outside = ~ndimage.binary_dilation(hallux, iterations=2)
    # bone bared by a wound touches the outside: within BARED_WITHIN_MM of it (voxel centres;
    # a cut face's blurred ramp can leave a thin partial-volume layer of "body" on it), where
    # even a thin cover of soft tissue lies farther out
    body = np.asarray(tissues.body.array, bool)[box]
    to_outside_mm = ndimage.distance_transform_edt(body, sampling=spacing_kji)
    touching = hallux & (to_outside_mm <= BARED_WITHIN_MM)
    bared = ndimage.binary_dilation(touching, structure=np.ones(tuple(2 * r + 1 for r in reach), bool),
                                    iterations=2)
    field = _edge_field(smooth, inside, outside, reach, tissues.soft_tissue_hu - BONE_EDGE_FLOOR_BELOW_SOFT_HU,
                        bared)
    # only the periosteal surface: dark marrow behind a thin cortex (1 mm voxels, fatty or
    # osteoporotic bone) is below the cortex's half height too, but enclosed by it
    solid = field > 0
    field[ndimage.binary_fill_holes(solid) & ~solid] = 1.0
    verts, faces = _mesh_in_patient_space(field, ct)
    return verts, faces, ct, smooth, box


def measure_coverage(tissues: Tissues, hallux_bone: Volume, frame: HalluxFrame,
                     options: CoverageOptions = CoverageOptions()) -> HalluxCoverage:
    """SPEC's coverage metrics of one hallux.

    Parameters
    ----------
    tissues : segmentation of the foot (body, bone, HU) on its crop grid.
    hallux_bone : bool volume on the same grid, the proximal and distal phalanx.
    frame : the hallux frame, for the regions.
    options : exposure threshold and shell width, mm.
    """
    verts, faces, ct, smooth, box = hallux_surface(tissues, hallux_bone)
    bone = surface_samples(verts, faces)
    if bone.total_area_mm2 <= 0:
        raise AnalysisError("the hallux bone surface is empty")
    body = np.asarray(tissues.body.array, bool)[box]
    all_bone = np.asarray(tissues.bone.array, bool)[box]

    # skin: the body's edge, at half height between the tissue and what lies outside it
    inside = ndimage.binary_erosion(body, iterations=2)
    outside = ~ndimage.binary_dilation(body, iterations=2)
    # outside the skin there is air, or foam and dressings: the edge is half way to
    # whichever it is; exposed bone meets them half way between bone and outside
    skin_field = smooth - skin_edge_level_hu(smooth, tissues.soft_tissue_hu, ct.spacing_mm[::-1], bone=all_bone)
    skin_field[inside] = 1000.0
    skin_field[outside | np.asarray(tissues.outside_material.array, bool)[box]] = -1000.0
    skin_verts, skin_faces = _mesh_in_patient_space(skin_field, ct)
    thickness = distance_to_mesh(bone.points_mm, skin_verts, skin_faces)

    metrics = surface_coverage(bone.areas_mm2, thickness, options.min_cover_mm)
    metrics["soft_tissue_volume_ml"] = _shell_volume_ml(ct, body & ~all_bone, bone, options.shell_mm)
    metrics["bone_volume_ml"] = enclosed_volume_mm3(verts, faces) / 1000.0
    region = classify_regions(bone.points_mm, frame)
    metrics["regions"] = regional_coverage(bone.areas_mm2, thickness, region, options.min_cover_mm)
    return HalluxCoverage(metrics, bone, thickness, region)


def _shell_volume_ml(ct: Volume, soft: np.ndarray, bone: SurfaceSamples, shell_mm: float) -> float:
    """Soft tissue whose voxel centre lies within ``shell_mm`` of the bone surface, mL."""
    idx = np.argwhere(soft)
    pts = ct.index_to_world(idx[:, ::-1].astype(float))
    d, _ = cKDTree(bone.points_mm).query(pts, distance_upper_bound=shell_mm + 1.0, workers=-1)
    return float(np.sum(d <= shell_mm)) * ct.voxel_volume_mm3 / 1000.0
