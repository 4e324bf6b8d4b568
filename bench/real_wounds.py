"""Wounds carved into the real scan, scored against a reference that does not use bonecover's measuring.

The only real bilateral foot CT the project has (NLM Visible Human Female, 1 mm,
``../shared/data/vhf_feet``) has two healthy halluces. Here craters are carved through
the soft tissue of the LEFT hallux down to (and once into) its bone, the wounded volume
is written as a MetaImage with the exact geometry, ``bonecover.pipeline.compare`` runs on
it with ``affected_side="left"``, and its ``exposed_area_mm2`` and the place of the
exposure are compared with a reference computed here on a 0.25 mm grid.

Carving (:func:`carve`). Inside a sphere (patient mm) the soft tissue is replaced by air
(-1000 HU), with partial volume: a voxel's fraction inside the sphere is taken from its
centre's signed distance to the sphere over one voxel (so the half-height edge of the
crater is the sphere), and in a voxel that is part bone only the soft-tissue part is
replaced (bone fraction from its HU between ``soft_hu`` and ``bone_hu``; 1 inside the
``keep`` mask), so a bone edge at half height between bone and tissue becomes an edge at
half height between bone and air at the same place. ``cut_bone=True`` replaces
everything in the sphere, bone too.

Reference (:func:`reference_exposure`), computed without bonecover.coverage, .surface or
.metrics. Assumptions:

- the bone solid is bonecover's hallux mask of the UNWOUNDED scan (its segmentation, not
  its measuring), trilinearly resampled to the fine grid, smoothed (Gaussian, 0.5 mm) and
  cut at 0.5, minus the carved sphere when bone was cut. The wound leaves the rest of the
  bone where it was;
- the body is the original CT resampled (trilinear) and smoothed (0.5 mm), HU > -500,
  holes filled, the piece holding the hallux, minus the carved sphere, plus the bone
  solid (bone under a crater stays body);
- thickness at a bone-surface triangle = distance from its centroid to the nearest
  outside point (Euclidean distance transform with the real spacing, corrected by half a
  fine voxel so the edge lies between the last inside and first outside voxel, 0 where the
  centroid is outside the body); exposed area = area of the marching-cubes triangles
  whose thickness < 1 mm.

    python bench/real_wounds.py            # all sites; writes bench/real_wounds_results.md
    python bench/real_wounds.py --keep DIR # also keep the wounded volumes (.mha) in DIR
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage
from skimage.measure import marching_cubes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bonecover.volume import Volume  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "vhf_feet"
RESULTS_MD = ROOT / "bench" / "real_wounds_results.md"
AIR_HU = -1000.0
#: issue 4's tolerance on exposed_area_mm2 (tests/_tolerances.py): max(15 %, 15 mm2)
EXPOSED_REL, EXPOSED_ABS_MM2 = 0.15, 15.0
#: how far the exposure bonecover finds may lie from the reference's, mm
CENTROID_TOL_MM = 4.0


def exposed_tolerance_mm2(reference_mm2: float) -> float:
    """Issue 4's tolerance on ``exposed_area_mm2`` around a reference value."""
    return max(EXPOSED_REL * reference_mm2, EXPOSED_ABS_MM2)


# ----------------------------------------------------------------------------- carving
def _mask_on(mask: Volume, target: Volume, box: tuple[slice, slice, slice]) -> np.ndarray:
    """``mask`` (bool, any grid) on the ``box`` (k, j, i slices) of ``target``'s grid, nearest voxel."""
    k, j, i = np.meshgrid(*(np.arange(s.start, s.stop) for s in box), indexing="ij")
    ijk = np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1).astype(float)
    src = np.rint(mask.world_to_index(target.index_to_world(ijk))).astype(int)
    size = np.array(mask.size_ijk)
    ok = np.all((src >= 0) & (src < size), axis=1)
    out = np.zeros(len(src), dtype=bool)
    out[ok] = np.asarray(mask.array, dtype=bool)[src[ok, 2], src[ok, 1], src[ok, 0]]
    return out.reshape(k.shape)


def carve(volume: Volume, centre_mm: np.ndarray | tuple[float, float, float], radius_mm: float, *,
          cut_bone: bool = False, keep: Volume | None = None, soft_hu: float = 40.0,
          bone_hu: float = 1000.0) -> Volume:
    """A copy of ``volume`` (HU) with a crater: soft tissue inside a sphere replaced by air.

    Parameters
    ----------
    volume : the CT (HU), any geometry.
    centre_mm, radius_mm : the sphere, patient LPS mm.
    cut_bone : replace bone inside the sphere too (everything becomes air).
    keep : bool mask (any grid) of bone to leave whole (e.g. the hallux bones, marrow
        included); voxels next to it are part bone by their HU. Without it every voxel is
        part bone by its HU.
    soft_hu, bone_hu : the soft-tissue and cortical-bone levels for the bone fraction.

    Returns
    -------
    Volume on the same grid, int16 when the input is integer.
    """
    centre = np.asarray(centre_mm, dtype=float).reshape(3)
    arr = np.asarray(volume.array)
    # index box of the sphere (+1 voxel for the partial-volume ramp)
    step = float(volume.spacing_mm.min())
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
    ijk = volume.world_to_index(centre + corners * (radius_mm + 2 * step))
    lo = np.clip(np.floor(ijk.min(axis=0)).astype(int), 0, None)
    hi = np.minimum(np.ceil(ijk.max(axis=0)).astype(int) + 1, volume.size_ijk)
    if np.any(hi <= lo):
        raise ValueError(f"sphere at {centre.tolist()} r={radius_mm} lies outside the volume")
    sl = (slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0]))
    k, j, i = np.meshgrid(*(np.arange(s.start, s.stop) for s in sl), indexing="ij")
    pts = volume.index_to_world(np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1).astype(float))
    dist = np.linalg.norm(pts - centre, axis=1).reshape(k.shape)
    frac = np.clip(0.5 - (dist - radius_mm) / step, 0.0, 1.0)  # fraction of the voxel in the sphere
    orig = arr[sl].astype(float)
    if cut_bone:
        new = orig + frac * (AIR_HU - orig)
    else:
        bone = np.clip((orig - soft_hu) / (bone_hu - soft_hu), 0.0, 1.0)
        if keep is not None:
            inside = _mask_on(keep, volume, sl)
            near = ndimage.binary_dilation(inside, iterations=2)
            bone = np.where(inside, 1.0, np.where(near, bone, 0.0))
        tissue = np.minimum(orig, soft_hu)  # the soft-tissue part's own HU
        new = orig + frac * (1.0 - bone) * (AIR_HU - tissue)
    out = np.array(arr, copy=True)
    if np.issubdtype(out.dtype, np.integer):
        out[sl] = np.rint(new).astype(out.dtype)
    else:
        out[sl] = new.astype(out.dtype)
    return volume.with_array(out)


def write_volume(volume: Volume, path: Path) -> Path:
    """Write ``volume`` (HU) as a MetaImage / NIfTI / NRRD with its exact LPS geometry."""
    image = volume.to_sitk()
    sitk.WriteImage(image, str(path), useCompression=str(path).endswith((".nii.gz", ".nrrd")))
    return path


# ----------------------------------------------------------------------------- sites
@dataclass(frozen=True)
class Site:
    """A wound on the left hallux, placed from the unwounded run's hallux frame.

    The ray starts on the hallux axis ``from_tip_mm`` behind the tip and runs along
    ``direction`` (``dorsal``, ``medial`` or ``axis`` = distally, out of the tip); the
    sphere's centre is where that ray leaves the body (HU < -500) moved back by
    ``inset_mm``, so the crater reaches ``radius_mm - cover + inset`` below the skin.
    """

    name: str
    direction: str
    from_tip_mm: float
    radius_mm: float
    cut_bone: bool = False
    inset_mm: float = 0.0


SITES = (
    Site("dorsal_distal", "dorsal", 8.0, 6.0),
    Site("medial_proximal", "medial", 30.0, 6.5),
    Site("tip", "axis", 5.0, 6.5),
    Site("dorsal_proximal_bone_cut", "dorsal", 30.0, 7.0, cut_bone=True),
)


def _sample(volume: Volume, pts: np.ndarray, order: int = 1) -> np.ndarray:
    ijk = volume.world_to_index(np.atleast_2d(pts))
    return ndimage.map_coordinates(np.asarray(volume.array, float), ijk[:, ::-1].T, order=order, mode="nearest")


def site_centre(site: Site, ct: Volume, bones) -> tuple[np.ndarray, float, float]:  # noqa: ANN001
    """(centre mm, soft-tissue cover along the ray mm, depth of the sphere below the bone surface mm).

    ``bones`` is the unwounded run's HalluxBones: the ray leaves the bone where it leaves
    its mask for the last time before the skin (HU < -500).
    """
    frame = bones.frame
    axis = (frame.tip_mm - frame.base_mm) / np.linalg.norm(frame.tip_mm - frame.base_mm)
    d = {"dorsal": frame.dorsal, "medial": frame.medial, "axis": axis}[site.direction]
    start = frame.tip_mm - site.from_tip_mm * axis
    t = np.arange(0.0, 40.0, 0.1)
    pts = start + t[:, None] * d
    skin_t = t[np.argmax(_sample(ct, pts) < -500.0)]
    in_bone = _sample(bones.mask, pts, order=0) > 0.5
    bone_t = t[np.nonzero(in_bone & (t < skin_t))[0].max()] + 0.5 * float(bones.mask.spacing_mm.min())
    centre = start + (skin_t - site.inset_mm) * d
    return centre, float(skin_t - bone_t), float(site.radius_mm - (skin_t - site.inset_mm - bone_t))


# ----------------------------------------------------------------------------- reference
@dataclass(frozen=True)
class Wound:
    centre_mm: np.ndarray
    radius_mm: float
    cut_bone: bool = False


@dataclass(frozen=True)
class Reference:
    bone_area_mm2: float
    exposed_area_mm2: float
    exposed_centroid_mm: np.ndarray | None
    thickness_median_mm: float
    spacing_mm: float


class ReferenceGrid:
    """The fine grid around one hallux with its unwounded bone field and body (reused per wound)."""

    def __init__(self, ct: Volume, bone_mask: Volume, *, spacing_mm: float = 0.25, margin_mm: float = 6.0,
                 smooth_mm: float = 0.5, bone: str = "mask", bone_level_hu: float = 300.0) -> None:
        h = float(spacing_mm)
        m = np.asarray(bone_mask.array, bool)
        kk, jj, ii = np.nonzero(m)
        pts = bone_mask.index_to_world(np.stack([ii, jj, kk], axis=1).astype(float))
        lo = pts.min(axis=0) - margin_mm
        hi = pts.max(axis=0) + margin_mm
        self.h = h
        self.origin = lo
        self.axes = [np.arange(lo[a], hi[a] + 0.5 * h, h) for a in range(3)]  # x, y, z (LPS)
        shape = tuple(len(ax) for ax in self.axes[::-1])  # (z, y, x)
        sigma = smooth_mm / h

        def resample(vol: Volume, order: int = 1) -> np.ndarray:
            # index = inv(A) (world - origin), built axis by axis (the fine grid is axis-aligned in LPS)
            inv = np.linalg.inv(vol.affine[:3, :3])
            d = [(ax - vol.affine[a, 3]).astype(np.float32) for a, ax in enumerate(self.axes)]
            x, y, z = d[0][None, None, :], d[1][None, :, None], d[2][:, None, None]
            coords = [np.broadcast_to(float(inv[c, 0]) * x + float(inv[c, 1]) * y + float(inv[c, 2]) * z, shape)
                      for c in (2, 1, 0)]
            return ndimage.map_coordinates(np.asarray(vol.array, np.float32), coords, order=order,
                                           mode="nearest").astype(np.float32)

        self.bone_field = ndimage.gaussian_filter(resample(bone_mask), sigma) - 0.5  # > 0 in the bone
        self.field_per_mm = 0.5  # the smoothed mask's slope at its edge, about 0.5 / mm
        hu = ndimage.gaussian_filter(resample(ct), sigma)
        if bone == "hu":
            # the HU iso-surface at bone_level_hu within 1.5 mm of the mask's bone, enclosed marrow filled
            near = ndimage.binary_dilation(self.bone_field > 0, iterations=max(1, round(1.5 / h)))
            solid = (hu > bone_level_hu) & near
            labels, n = ndimage.label(solid)
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            solid = ndimage.binary_fill_holes(np.isin(labels, np.nonzero(sizes >= 0.02 * sizes.max())[0]))
            field = np.where(solid, np.maximum(hu - bone_level_hu, 1.0), np.minimum(hu - bone_level_hu, -1.0))
            self.bone_field = np.where(near, field, -1000.0).astype(np.float32)
            self.field_per_mm = 400.0  # HU per mm across a blurred cortex edge, roughly
        elif bone != "mask":
            raise ValueError(f"bone must be 'mask' or 'hu'; got {bone!r}")
        body = ndimage.binary_fill_holes(hu > -500.0)
        labels, _ = ndimage.label(body)
        bone_solid = self.bone_field > 0
        keep = np.unique(labels[bone_solid & body])
        self.body = np.isin(labels, keep[keep > 0]) | bone_solid
        self.world_shape = shape

    def _sphere_sd(self, wound: Wound) -> np.ndarray:
        """Signed distance to the wound sphere (mm, negative inside)."""
        c = wound.centre_mm
        dz = (self.axes[2] - c[2])[:, None, None]
        dy = (self.axes[1] - c[1])[None, :, None]
        dx = (self.axes[0] - c[0])[None, None, :]
        return (np.sqrt(dx * dx + dy * dy + dz * dz) - wound.radius_mm).astype(np.float32)

    def measure(self, wounds: list[Wound] | tuple[Wound, ...] = (), min_cover_mm: float = 1.0) -> Reference:
        """Exposed area etc. of the hallux after carving ``wounds`` (none: the unwounded hallux)."""
        h = self.h
        bone_field = self.bone_field
        body = self.body.copy()
        for w in wounds:
            sd = self._sphere_sd(w)
            if w.cut_bone:
                # the sphere's distance scaled to the bone field's slope at its edge
                bone_field = np.minimum(bone_field, self.field_per_mm * sd)
            body &= sd > 0
        bone_solid = bone_field > 0
        body |= bone_solid
        inside = ndimage.distance_transform_edt(body, sampling=h) - 0.5 * h
        outside = ndimage.distance_transform_edt(~body, sampling=h) - 0.5 * h
        phi = np.where(body, inside, -outside).astype(np.float32)
        self.last_phi, self.last_bone_field = phi, bone_field
        verts, faces, _, _ = marching_cubes(bone_field, level=0.0, spacing=(h, h, h))
        tri = verts[faces]  # (n, 3, 3) in (z, y, x) mm from the grid origin
        areas = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
        cent = tri.mean(axis=1)
        thick = np.maximum(ndimage.map_coordinates(phi, (cent / h).T, order=1, mode="nearest"), 0.0)
        exposed = thick < min_cover_mm
        cent_world = cent[:, ::-1] + self.origin
        e_area = float(areas[exposed].sum())
        centroid = (areas[exposed] @ cent_world[exposed]) / e_area if e_area > 0 else None
        order = np.argsort(thick)
        cum = np.cumsum(areas[order]) - 0.5 * areas[order]
        median = float(np.interp(0.5 * areas.sum(), cum, thick[order]))
        return Reference(float(areas.sum()), e_area, centroid, median, h)


    def thickness_at(self, points_mm: np.ndarray) -> np.ndarray:
        """The last :meth:`measure`'s reference thickness (mm, 0 outside the body) at LPS points."""
        idx = (np.atleast_2d(points_mm) - self.origin)[:, ::-1] / self.h
        return np.maximum(ndimage.map_coordinates(self.last_phi, idx.T, order=1, mode="nearest"), 0.0)

    def bone_field_at(self, points_mm: np.ndarray) -> np.ndarray:
        """The last :meth:`measure`'s bone field (> 0 inside the reference bone) at LPS points."""
        idx = (np.atleast_2d(points_mm) - self.origin)[:, ::-1] / self.h
        return ndimage.map_coordinates(self.last_bone_field, idx.T, order=1, mode="nearest")


# ----------------------------------------------------------------------------- bonecover
def bonecover_exposure(report, min_cover_mm: float = 1.0) -> tuple[float, np.ndarray | None]:  # noqa: ANN001
    """Affected exposed area and its area-weighted centroid from a Report's surface samples."""
    s = report.affected.surface
    ex = np.asarray(report.affected.thickness_mm) < min_cover_mm
    area = float(np.asarray(s.areas_mm2)[ex].sum())
    if area <= 0:
        return area, None
    return area, (np.asarray(s.areas_mm2)[ex] @ np.asarray(s.points_mm)[ex]) / area


@dataclass
class WoundResult:
    site: Site
    centre_mm: np.ndarray
    cover_mm: float
    depth_mm: float
    reference_mm2: float  # mask-based reference (the score)
    reference_hu_mm2: float  # HU iso-surface reference (how much the bone-surface choice moves it)
    bonecover_mm2: float
    bonecover_near_mm2: float  # of which within radius + 4 mm of the sphere's centre
    centroid_distance_mm: float | None
    healthy_exposed_mm2: float
    qa: str
    residual_mm: float
    seconds: float
    reference_bone_area_mm2: float
    bonecover_bone_area_mm2: float

    @property
    def tolerance_mm2(self) -> float:
        return exposed_tolerance_mm2(self.reference_mm2)

    @property
    def area_ok(self) -> bool:
        return abs(self.bonecover_mm2 - self.reference_mm2) <= self.tolerance_mm2

    @property
    def place_ok(self) -> bool:
        return self.centroid_distance_mm is not None and self.centroid_distance_mm <= CENTROID_TOL_MM


def run_wound(site: Site, ct: Volume, base_report, grid: ReferenceGrid, folder: Path,  # noqa: ANN001
              grid_hu: ReferenceGrid | None = None) -> tuple[WoundResult, object]:
    """Carve ``site``, run bonecover on the written volume, and score it against the reference.

    Returns the result and bonecover's Report of the wounded volume.
    """
    from bonecover.pipeline import CompareOptions, compare

    t0 = time.perf_counter()
    bones = base_report.extras["affected_hallux"]
    centre, cover, depth = site_centre(site, ct, bones)
    wounded = carve(ct, centre, site.radius_mm, cut_bone=site.cut_bone, keep=bones.mask)
    path = write_volume(wounded, folder / f"{site.name}.mha")
    report = compare(path, options=CompareOptions(affected_side="left"))
    wound = Wound(centre, site.radius_mm, site.cut_bone)
    ref = grid.measure([wound])
    ref_hu = grid_hu.measure([wound]).exposed_area_mm2 if grid_hu is not None else float("nan")
    area, centroid = bonecover_exposure(report)
    s = report.affected.surface
    near = (np.linalg.norm(np.asarray(s.points_mm) - centre, axis=1) < site.radius_mm + 4.0) & (
        np.asarray(report.affected.thickness_mm) < 1.0)
    doc = report.document
    dist = None
    if centroid is not None and ref.exposed_centroid_mm is not None:
        dist = float(np.linalg.norm(centroid - ref.exposed_centroid_mm))
    result = WoundResult(site, centre, cover, depth, ref.exposed_area_mm2, ref_hu, area,
                         float(np.asarray(s.areas_mm2)[near].sum()), dist, doc["healthy"]["exposed_area_mm2"],
                         doc["registration"]["qa"], doc["registration"]["residual_mm"], time.perf_counter() - t0,
                         ref.bone_area_mm2, doc["affected"]["bone_area_mm2"])
    return result, report


#: what the numbers said (first at 750dc26, then after the bared-bone edge of issue 13); kept with the table
FINDINGS = """\
Findings:

- At 750dc26 (first run of this bench) 1 of 4 wounds was within tolerance: the unwounded left hallux read
  9.7 mm2 exposed at about (260, 159, 41) LPS mm, where ~1.8 mm of soft tissue covers a thin cortex (peak
  ~510 HU), because the bone edge went half way to air whenever air was within its 0.8 mm reach: the bone
  surface sat ~1 mm out in the soft tissue. The edge now goes half way to air only where the bone lies
  within 1 mm of the outside (bared): the unwounded hallux reads 0, and 3 of 4 wounds are within tolerance
  (exposure 0.3-0.9 mm from where it was carved).
- The tip still over-reads (+16 mm2 against the mask reference, +27 against the 300 HU reference): the tuft
  is low-contrast (~300-350 HU, a ~2.5 mm ramp from soft tissue), so where its edge is depends on the level;
  the two references differ by more than the tolerance there.
- bonecover's whole hallux surface is larger than either reference's (about 3970 mm2 against 3010 for the
  smoothed mask and 3540 for the 300 HU iso-surface): at 1 mm voxels the measured surface is rougher.
"""


def _markdown(results: list[WoundResult], base: dict) -> str:
    lines = [
        "## Wounds carved into the real scan (vhf_feet, left hallux)",
        "",
        "`python bench/real_wounds.py`: craters carved through the soft tissue of the real left hallux "
        "(NLM Visible Human Female, 1 mm; soft tissue in a sphere replaced by air with partial volume, bone kept "
        "unless cut), written as MetaImage (geometry round-trips exactly), bonecover run on it "
        "(`affected_side=left`), and its `exposed_area_mm2` compared with a reference on a "
        f"{base['spacing']:.2f} mm grid that does not use bonecover's measuring code: bone = bonecover's hallux "
        "mask of the *unwounded* scan, smoothed 0.5 mm, iso 0.5 (minus the sphere when bone is cut); body = "
        "original HU smoothed 0.5 mm > -500, filled, minus the sphere, plus the bone; thickness = EDT distance "
        "to outside at each marching-cubes triangle centroid; exposed = thickness < 1 mm. `ref HU` is the "
        "same with the bone surface at the 300 HU iso-surface of the unwounded scan near the mask, to show "
        "how much the choice of bone surface moves the reference. Tolerance: issue 4's max(15 %, 15 mm²) on "
        f"the exposed area against the mask reference; the exposure's area-weighted centroid within "
        f"{CENTROID_TOL_MM:g} mm of the reference's.",
        "",
        f"Unwounded: bonecover left exposed {base['bc_left']:.1f} mm² at "
        f"({', '.join(f'{v:.0f}' for v in base['bc_left_at'])}) LPS mm, reference {base['ref_left']:.1f} mm² "
        f"(HU reference {base['ref_left_hu']:.1f}); right (healthy) {base['bc_right']:.1f} mm², reference "
        f"{base['ref_right']:.1f} mm²; QA {base['qa']} ({base['residual']:.2f} mm). Bone area: reference "
        f"{base['ref_bone']:.0f} mm² (HU reference {base['ref_bone_hu']:.0f}), bonecover {base['bc_bone']:.0f} mm².",
        "",
        "| wound | centre (LPS mm) | r mm | cover mm | depth mm | ref mm² | ref HU mm² | bonecover mm² "
        "(at the wound) | tol mm² | centroid Δ mm | healthy mm² | QA (residual mm) | area | place |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        c = ", ".join(f"{v:.1f}" for v in r.centre_mm)
        d = "—" if r.centroid_distance_mm is None else f"{r.centroid_distance_mm:.1f}"
        lines.append(
            f"| {r.site.name} | {c} | {r.site.radius_mm:g} | {r.cover_mm:.1f} | {r.depth_mm:.1f} | "
            f"{r.reference_mm2:.1f} | {r.reference_hu_mm2:.1f} | {r.bonecover_mm2:.1f} ({r.bonecover_near_mm2:.1f}) | "
            f"{r.tolerance_mm2:.1f} | {d} | {r.healthy_exposed_mm2:.1f} | {r.qa} ({r.residual_mm:.2f}) | "
            f"{'ok' if r.area_ok else '**miss**'} | {'ok' if r.place_ok else '**miss**'} |")
    lines += [
        "",
        "`cover`: soft tissue between the bone mask and the skin along the placing ray; `depth`: how far the "
        "sphere reaches below the bone surface along it. `(at the wound)`: bonecover's exposed area within "
        "r + 4 mm of the sphere's centre (the rest is the unwounded false exposure).",
        "",
        FINDINGS,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep the wounded volumes in this folder")
    parser.add_argument("--spacing", type=float, default=0.25, help="reference grid spacing, mm")
    parser.add_argument("--sites", nargs="*", help="site names (default: all)")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"real foot CT not available at {DATA}", file=sys.stderr)
        return 2
    from bonecover.io import load_ct
    from bonecover.pipeline import CompareOptions, compare

    ct = load_ct(DATA).volume
    base = compare(DATA, options=CompareOptions(affected_side="left"))
    mask = base.extras["affected_hallux"].mask
    grid = ReferenceGrid(ct, mask, spacing_mm=args.spacing)
    grid_hu = ReferenceGrid(ct, mask, spacing_mm=args.spacing, bone="hu")
    ref0, ref0_hu = grid.measure(), grid_hu.measure()
    right = ReferenceGrid(ct, base.extras["healthy_hallux"].mask, spacing_mm=args.spacing).measure()
    bc0, c0 = bonecover_exposure(base)
    summary = {"spacing": args.spacing, "bc_left": bc0, "bc_left_at": c0 if c0 is not None else [np.nan] * 3,
               "ref_left": ref0.exposed_area_mm2, "ref_left_hu": ref0_hu.exposed_area_mm2,
               "bc_right": base.document["healthy"]["exposed_area_mm2"], "ref_right": right.exposed_area_mm2,
               "qa": base.document["registration"]["qa"], "residual": base.document["registration"]["residual_mm"],
               "ref_bone": ref0.bone_area_mm2, "ref_bone_hu": ref0_hu.bone_area_mm2,
               "bc_bone": base.document["affected"]["bone_area_mm2"]}
    print(f"unwounded: left bonecover {bc0:.1f} mm2 at {None if c0 is None else np.round(c0, 1)}, reference "
          f"{ref0.exposed_area_mm2:.1f} (HU {ref0_hu.exposed_area_mm2:.1f}) mm2; bone area reference "
          f"{ref0.bone_area_mm2:.0f} (HU {ref0_hu.bone_area_mm2:.0f}) bonecover {summary['bc_bone']:.0f} mm2; "
          f"right bonecover {summary['bc_right']:.1f} reference {right.exposed_area_mm2:.1f} mm2")
    sites = [s for s in SITES if not args.sites or s.name in args.sites]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for site in sites:
            r, _ = run_wound(site, ct, base, grid, folder, grid_hu)
            results.append(r)
            d = "-" if r.centroid_distance_mm is None else f"{r.centroid_distance_mm:.1f}"
            print(f"{site.name:25s} cover {r.cover_mm:4.1f} depth {r.depth_mm:4.1f}  reference "
                  f"{r.reference_mm2:6.1f} (HU {r.reference_hu_mm2:6.1f}) mm2  bonecover {r.bonecover_mm2:6.1f} "
                  f"(at wound {r.bonecover_near_mm2:6.1f}) mm2 tol {r.tolerance_mm2:.1f}  centroid d {d} mm  "
                  f"healthy {r.healthy_exposed_mm2:.1f}  QA {r.qa} {r.residual_mm:.2f}  "
                  f"area {'ok' if r.area_ok else 'MISS'} place {'ok' if r.place_ok else 'MISS'} ({r.seconds:.0f} s)")
    RESULTS_MD.write_text(_markdown(results, summary))
    print(f"wrote {RESULTS_MD}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
