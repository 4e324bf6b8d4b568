"""Dorsoplantar radiographs of the phantom feet, with exact 2-D truth from the projected geometry.

The 3-D implicit feet of :mod:`bonecover.foot_model` (the same patients as the CT
phantom) lie flat, dorsum up (+z), toes anterior (-y). A dorsoplantar (DP) beam
runs dorsal -> plantar, along -z, onto a detector in the patient's x-y plane:

- **attenuation**: the CT renderer's partial-volume HU (soft tissue, fat, cortex,
  cancellous bone, air) converted to linear attenuation at about 60 keV,
  mu = mu_water (1 + HU / 1000), mu_water = 0.0206 / mm;
- **projection**: parallel line integrals along z on a ``projection_mm`` grid (finer,
  ``hallux_projection_mm``, within 12 mm of each hallux's phalanges, where edges are
  measured), resampled onto the detector pixels, scaled by the stated radiographic
  magnification M (detector mm = M x patient-plane mm; source-image distance
  1000 mm, so the feet lie 1000 / M mm from the source);
- **detector**: I = N0 exp(-integral of mu), scintillator blur, Poisson noise, log
  transform to display values (bone bright in MONOCHROME2), a drawn gain and offset
  (exposure and processing differ between images), optional MONOCHROME1, a
  collimation border (unexposed, so bright) and a burned-in "L"/"R" marker.

Truth (``project_truth``) never looks at the image: the hallux bone outline is the
silhouette of the hallux bones (the rays that hit them), outside is where the ray
hits no body; both silhouettes are iso-lines of the minimum along the beam of the
signed-distance functions, sampled finely (0.2 mm in the plane, 0.3-0.4 mm along
the beam) in a narrow band. Margins are distances in the plane from the bone
outline to the body silhouette, in patient-plane mm.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from bonecover.errors import InputError
from bonecover.foot_model import FootModel
from bonecover.phantom import PhantomConfig, _coarse_tissue, render_ct, sample_feet
from bonecover.radiograph.image import Image2D
from bonecover.radiograph.outline import (
    iso_outline,
    margins,
    outline_coverage,
    resample_polyline,
    soft_tissue_area_mm2,
)
from bonecover.volume import Volume, affine_from_geometry

log = logging.getLogger(__name__)

__all__ = ["DXImage", "DXPhantomConfig", "DXStudy", "MU_WATER_PER_MM", "make_dx_phantom", "project_truth"]

#: Linear attenuation of water at about 60 keV, per mm.
MU_WATER_PER_MM = 0.0206
#: Source-image distance of the DP geometry, mm.
SID_MM = 1000.0
#: Air (mm) around the feet in the field of view, and collimation border widths (mm).
_FIELD_MARGIN_MM = 16.0
_TRUTH_STEP_MM = 0.2
#: The finely rendered box reaches this far around the hallux phalanges, mm (soft tissue and cleft).
_HALLUX_BOX_MM = 12.0

# 5 x 7 bitmaps of the burned-in laterality markers
_GLYPHS = {
    "L": ["10000", "10000", "10000", "10000", "10000", "10000", "11111"],
    "R": ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
}


@dataclass(frozen=True)
class DXPhantomConfig:
    """What to synthesise; mirrors ``bonecover phantom --modality dx``.

    Parameters
    ----------
    seed : random seed (same seed, same patient as the CT phantom's anatomy and wound).
    layout : ``bilateral`` (one image of both feet) or ``separate`` (one image per foot).
    affected, defect : as :class:`bonecover.phantom.PhantomConfig`.
    monochrome1 : write MONOCHROME1 (None: by seed).
    pixel_mm : detector pixel spacing (ImagerPixelSpacing), 0.1-0.2 mm (None: drawn).
    magnification : radiographic magnification M, 1.0-1.3 (None: drawn 1.05-1.2).
    marker : burn in an "L"/"R" marker.
    collimation : an unexposed collimation border on each side.
    projection_mm : step of the line-integral grid in the patient plane, mm (0.3-0.6).
    hallux_projection_mm : finer step around each hallux, mm (None: ``projection_mm`` everywhere).
    proximal_mm : the field reaches this far proximal to the first metatarsal head, mm.
    view : ``DP`` or ``lateral`` (mediolateral beam, one image per foot, no 2-D truth: a wrong
        view to test the refusal of bad input with).
    """

    seed: int = 0
    layout: str = "bilateral"
    affected: str = "right"
    defect: str = "small"
    monochrome1: bool | None = None
    pixel_mm: float | None = None
    magnification: float | None = None
    marker: bool = True
    collimation: bool = True
    projection_mm: float = 0.4
    hallux_projection_mm: float | None = 0.2
    proximal_mm: float = 40.0
    view: str = "DP"

    def __post_init__(self) -> None:
        PhantomConfig(seed=self.seed, layout=self.layout, affected=self.affected, defect=self.defect)
        if self.pixel_mm is not None and not 0.05 <= self.pixel_mm <= 0.5:
            raise InputError(f"DXPhantomConfig.pixel_mm must be 0.05-0.5 mm; got {self.pixel_mm!r}")
        if self.magnification is not None and not 1.0 <= self.magnification <= 1.5:
            raise InputError(f"DXPhantomConfig.magnification must be 1.0-1.5; got {self.magnification!r}")
        if not 0.2 <= self.projection_mm <= 0.8:
            raise InputError(f"DXPhantomConfig.projection_mm must be 0.2-0.8 mm; got {self.projection_mm!r}")
        if self.view not in ("DP", "lateral"):
            raise InputError(f"DXPhantomConfig.view must be DP or lateral; got {self.view!r}")
        if self.view == "lateral" and self.layout != "separate":
            raise InputError("a lateral view shows one foot: use layout 'separate' with view 'lateral'")
        if self.hallux_projection_mm is not None and not 0.1 <= self.hallux_projection_mm <= self.projection_mm:
            raise InputError("DXPhantomConfig.hallux_projection_mm must be 0.1 mm to projection_mm; "
                             f"got {self.hallux_projection_mm!r}")

    @property
    def healthy(self) -> str:
        return "left" if self.affected == "right" else "right"


@dataclass(frozen=True, eq=False)
class DXImage:
    """One synthetic radiograph as stored: integers, photometric, geometry and what it shows.

    ``stored`` is (rows, cols) uint16 (12 bits); rows run to +y (posterior: the toes
    are at the top), columns to +x (patient left), so the patient's right is on the
    image left. ``plane_origin_mm`` is the patient (x, y) of pixel (0, 0)'s centre at
    the patient plane; the detector spacing is ``pixel_mm`` and the patient-plane
    spacing ``pixel_mm / magnification``.
    """

    name: str
    stored: np.ndarray
    photometric: str
    pixel_mm: float
    magnification: float
    laterality: str  # "B", "L" or "R"
    plane_origin_mm: tuple[float, float]
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def plane_spacing_mm(self) -> float:
        return self.pixel_mm / self.magnification


@dataclass(frozen=True, eq=False)
class DXStudy:
    """A synthetic radiograph study: images, the foot models behind them, and the 2-D truth."""

    config: DXPhantomConfig
    images: tuple[DXImage, ...]
    feet: dict[str, FootModel]
    truth: dict[str, Any]
    timings_s: dict[str, float] = field(default_factory=dict)


# ----------------------------------------------------------------------------- projection
def _field_box(coarse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plane (x, y) box of the field of view around coarse tissue points, mm."""
    return coarse[:, :2].min(axis=0) - _FIELD_MARGIN_MM, coarse[:, :2].max(axis=0) + _FIELD_MARGIN_MM


def line_integrals(feet: list[FootModel], coarse: list[np.ndarray], lo: np.ndarray, hi: np.ndarray,
                   step_mm: float, *, hallux_step_mm: float | None = None) -> Image2D:
    """Integral of mu along z (dimensionless) on a plane grid covering [lo, hi].

    Each foot is rendered on its own grid (its own z range) with the CT renderer's
    partial-volume HU, converted to mu at about 60 keV, on a ``step_mm`` grid. With
    ``hallux_step_mm`` (finer), a box around each hallux is rendered again on that grid
    and the result is on the fine grid: a real detector resolves edges more finely than
    a coarse render (its pixels are 0.1-0.2 mm), and the halluces are what is measured.
    """
    total = _integrals(feet, coarse, lo, hi, step_mm)
    if hallux_step_mm is None or hallux_step_mm >= step_mm:
        return Image2D(total, (step_mm, step_mm), (float(lo[0]), float(lo[1])))
    f = float(hallux_step_mm)
    ny, nx = int(np.ceil((hi[1] - lo[1]) / f)) + 1, int(np.ceil((hi[0] - lo[0]) / f)) + 1
    rows, cols = np.meshgrid(np.arange(ny) * (f / step_mm), np.arange(nx) * (f / step_mm), indexing="ij")
    fine = ndimage.map_coordinates(total, [rows, cols], order=1, mode="nearest")
    for foot in feet:
        bones = [foot.bone(n) for n in ("hallux_distal_phalanx", "hallux_proximal_phalanx")]
        blo = np.min([b.bbox_lo for b in bones], axis=0)[:2] - _HALLUX_BOX_MM
        bhi = np.max([b.bbox_hi for b in bones], axis=0)[:2] + _HALLUX_BOX_MM
        i0 = np.clip(np.floor((blo - lo[:2]) / f).astype(int), 0, [nx - 1, ny - 1])
        i1 = np.clip(np.ceil((bhi - lo[:2]) / f).astype(int), 0, [nx - 1, ny - 1])
        if np.any(i1 - i0 < 8):
            continue
        box_lo = lo[:2] + i0 * f
        box_hi = lo[:2] + i1 * f
        part = _integrals(feet, coarse, box_lo, box_hi, f)[: i1[1] - i0[1] + 1, : i1[0] - i0[0] + 1]
        # blend into the coarse render over the box's outer 2 mm, so no seam shows
        edge = np.minimum.outer(np.minimum(np.arange(part.shape[0]), np.arange(part.shape[0])[::-1]),
                                np.minimum(np.arange(part.shape[1]), np.arange(part.shape[1])[::-1])) * f
        w = np.clip(edge / 2.0, 0.0, 1.0)
        sl = (slice(i0[1], i0[1] + part.shape[0]), slice(i0[0], i0[0] + part.shape[1]))
        fine[sl] = w * part + (1.0 - w) * fine[sl]
    return Image2D(fine, (f, f), (float(lo[0]), float(lo[1])))


def lateral_integrals(foot: FootModel, coarse: np.ndarray, step_mm: float) -> tuple[Image2D, np.ndarray, np.ndarray]:
    """Integral of mu along x (a mediolateral beam) on a ``step_mm`` grid; the image plane's
    x runs along the patient's y (toes at low values), its y along -z (dorsum at the top).
    Returns the integrals and the plane box [lo, hi] they cover."""
    lo = np.array([coarse[:, 1].min(), -coarse[:, 2].max()]) - _FIELD_MARGIN_MM
    hi = np.array([coarse[:, 1].max(), -coarse[:, 2].min()]) + _FIELD_MARGIN_MM
    x0, x1 = float(coarse[:, 0].min()) - 4.0, float(coarse[:, 0].max()) + 4.0
    dx = step_mm * 1.25
    ni = int(np.ceil((hi[0] - lo[0]) / step_mm)) + 1
    nj = int(np.ceil((hi[1] - lo[1]) / step_mm)) + 1
    nk = int(np.ceil((x1 - x0) / dx)) + 1
    # columns along +y, rows along -z, slices along +x
    direction = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    affine = affine_from_geometry((x0, lo[0], -lo[1]), (step_mm, step_mm, dx), direction)
    integral = _beam_integral(foot, Volume(np.zeros((nk, nj, ni), dtype=np.float32), affine), dx)
    return Image2D(integral, (step_mm, step_mm), (float(lo[0]), float(lo[1]))), lo, hi


def _beam_integral(foot: FootModel, grid: Volume, step_mm: float) -> np.ndarray:
    """Integral of mu (about 60 keV) along ``grid``'s slice axis, ``step_mm`` apart: (rows, cols)."""
    hu, _ = render_ct({foot.side: foot}, grid, block=32)
    mu = np.clip(MU_WATER_PER_MM * (1.0 + hu.astype(np.float64) / 1000.0), 0.0, None)
    return mu.sum(axis=0) * step_mm


def _integrals(feet: list[FootModel], coarse: list[np.ndarray], lo: np.ndarray, hi: np.ndarray,
               step_mm: float) -> np.ndarray:
    """(rows, cols) integral of mu along z on a ``step_mm`` grid from ``lo`` over [lo, hi]."""
    nx = int(np.ceil((hi[0] - lo[0]) / step_mm)) + 1
    ny = int(np.ceil((hi[1] - lo[1]) / step_mm)) + 1
    total = np.zeros((ny, nx), dtype=np.float64)
    dz = step_mm * 1.25
    for foot, pts in zip(feet, coarse, strict=True):
        z0, z1 = float(pts[:, 2].min()) - 4.0, float(pts[:, 2].max()) + 4.0
        nz = int(np.ceil((z1 - z0) / dz)) + 1
        affine = affine_from_geometry((lo[0], lo[1], z0), (step_mm, step_mm, dz), np.eye(3))
        total += _beam_integral(foot, Volume(np.zeros((nz, ny, nx), dtype=np.float32), affine), dz)
    return total


def _stamp_marker(display: np.ndarray, letter: str, air: np.ndarray, pixel_mm: float, value: float,
                  rng: np.random.Generator, margin_mm: float) -> dict[str, Any]:
    """Burn a letter (about 10 mm high) into the air corner farthest from the feet."""
    glyph = np.array([[c == "1" for c in row] for row in _GLYPHS[letter]])
    cell = max(1, int(round(10.0 / 7.0 / pixel_mm)))
    mark = np.kron(glyph, np.ones((cell, cell), bool))
    h, w = mark.shape
    dist = ndimage.distance_transform_edt(air)
    rows, cols = display.shape
    pad = int(round(margin_mm / pixel_mm))
    best, where = -1.0, (pad, pad)
    for r0 in (pad, rows - h - pad):
        for c0 in (pad, cols - w - pad):
            if r0 < 0 or c0 < 0:
                continue
            d = float(dist[r0:r0 + h, c0:c0 + w].min())
            if d > best:
                best, where = d, (r0, c0)
    r0, c0 = where
    display[r0:r0 + h, c0:c0 + w][mark] = value
    return {"letter": letter, "row": int(r0), "col": int(c0), "height_px": int(h), "width_px": int(w),
            "clearance_mm": best * pixel_mm, "jitter": float(rng.uniform())}


def _detector(integral: Image2D, lo: np.ndarray, hi: np.ndarray, pixel_mm: float, magnification: float,
              rng: np.random.Generator, *, collimation: bool, marker: str | None,
              monochrome1: bool) -> tuple[np.ndarray, tuple[float, float], dict[str, Any]]:
    """Detector image (uint16 stored values) of the line integrals over the plane box [lo, hi]."""
    s = pixel_mm / magnification  # pixel spacing at the patient plane
    cols = int(np.floor((hi[0] - lo[0]) / s)) + 1
    rows = int(np.floor((hi[1] - lo[1]) / s)) + 1
    rr, cc = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    src = integral.plane_to_index(np.stack([lo[0] + cc.ravel() * s, lo[1] + rr.ravel() * s], axis=1))
    line = ndimage.map_coordinates(integral.array, src.T, order=1, mode="nearest").reshape(rows, cols)

    n0 = float(rng.uniform(4000.0, 30000.0))  # photons per pixel without the patient (exposure)
    blur_mm = float(rng.uniform(0.06, 0.12))  # scintillator light spread (sigma, detector mm)
    expected = n0 * np.exp(-line)
    shutter = np.zeros((rows, cols), bool)
    borders = {"top": 0.0, "bottom": 0.0, "left": 0.0, "right": 0.0}
    if collimation:
        for side in borders:
            borders[side] = float(rng.uniform(3.0, 9.0))
        t, b = (int(round(borders[k] / s)) for k in ("top", "bottom"))
        left, right = (int(round(borders[k] / s)) for k in ("left", "right"))
        shutter[:t] = shutter[rows - b:] = True
        shutter[:, :left] = shutter[:, cols - right:] = True
        expected = np.where(shutter, n0 * 0.002, expected)  # leakage and scatter under the shutter
    expected = ndimage.gaussian_filter(expected, blur_mm / pixel_mm)
    counts = rng.poisson(expected).astype(np.float64)
    value = np.log(n0 / np.maximum(counts, 0.5))
    gain = float(rng.uniform(1100.0, 1700.0))
    offset = float(rng.uniform(60.0, 400.0))
    display = np.clip(np.rint(gain * value + offset), 0, 4095)
    facts: dict[str, Any] = {"photons_per_pixel": n0, "blur_sigma_mm": blur_mm, "gain": gain, "offset": offset,
                             "collimation_mm": borders}
    if marker is not None:
        air = (line < 1e-3) & ~shutter
        facts["marker"] = _stamp_marker(display, marker, air, s, 4095.0, rng,
                                        max(borders.values()) + float(rng.uniform(1.0, 4.0)))
    stored = (4095 - display) if monochrome1 else display
    return stored.astype(np.uint16), (float(lo[0]), float(lo[1])), facts


# ----------------------------------------------------------------------------- truth
def _projected_min(fn: Callable[[np.ndarray], np.ndarray], xs: np.ndarray, ys: np.ndarray, zs: np.ndarray,
                   rays: np.ndarray | None = None, z_centre: np.ndarray | None = None,
                   chunk: int = 400_000) -> tuple[np.ndarray, np.ndarray]:
    """min over z of ``fn`` on rays through the plane grid (ys, xs), and the z of the minimum.

    ``zs`` are the z samples (absolute, or offsets from ``z_centre`` (ny, nx) when given).
    Only rays where ``rays`` is True are evaluated (others are +inf).
    """
    out = np.full((len(ys), len(xs)), np.inf)
    arg = np.zeros((len(ys), len(xs)))
    jj, ii = np.nonzero(np.ones_like(out, bool) if rays is None else rays)
    per = max(1, chunk // len(zs))
    for a in range(0, len(jj), per):
        j, i = jj[a:a + per], ii[a:a + per]
        z = zs[None, :] + (0.0 if z_centre is None else z_centre[j, i][:, None])
        pts = np.empty((len(j), len(zs), 3), dtype=np.float64)
        pts[..., 0] = xs[i][:, None]
        pts[..., 1] = ys[j][:, None]
        pts[..., 2] = z
        values = fn(pts.reshape(-1, 3)).reshape(len(j), len(zs))
        k = np.argmin(values, axis=1)
        out[j, i] = values[np.arange(len(j)), k]
        arg[j, i] = z[np.arange(len(j)), k] if z.shape[0] == len(j) else zs[k]
    return out, arg


def _narrow_band_min(fn: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray, z0: float, z1: float,
                     step: float, dz: float, coarse: float = 1.0, window_mm: float = 5.0) -> Image2D:
    """Projected minimum of ``fn`` on a ``step`` plane grid: coarse everywhere, fine near zero.

    The coarse pass samples z every 0.6 mm over [z0, z1]; near the silhouette the fine
    pass samples every ``dz`` within ``window_mm`` of the coarse minimum's z.
    """
    xs = np.arange(lo[0], hi[0] + step, step)
    ys = np.arange(lo[1], hi[1] + step, step)
    xc = np.arange(lo[0], hi[0] + coarse, coarse)
    yc = np.arange(lo[1], hi[1] + coarse, coarse)
    fc, zc = _projected_min(fn, xc, yc, np.arange(z0, z1 + 0.6, 0.6))
    # coarse values on the fine grid; refine where the silhouette may pass
    where = np.meshgrid((ys - yc[0]) / coarse, (xs - xc[0]) / coarse, indexing="ij")
    interp = ndimage.map_coordinates(fc, where, order=1, mode="nearest")
    z_near = ndimage.map_coordinates(zc, where, order=0, mode="nearest")
    band = np.abs(interp) < 1.25 * coarse
    fine, _ = _projected_min(fn, xs, ys, np.arange(-window_mm, window_mm + dz, dz), rays=band, z_centre=z_near)
    return Image2D(np.where(band, fine, interp), (step, step), (float(xs[0]), float(ys[0])))


def _side_truth(foot: FootModel, min_cover_mm: float, shell_mm: float,
                coarse: np.ndarray | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """SPEC's 2-D metrics of one foot's hallux from its projected geometry; and the outlines.

    ``coarse`` are the foot's coarse tissue points (to bound the rays' z range).
    """
    hallux_parts = [foot.bone(n) for n in ("hallux_proximal_phalanx", "hallux_distal_phalanx")]
    blo = np.min([p.bbox_lo for p in hallux_parts], axis=0)
    bhi = np.max([p.bbox_hi for p in hallux_parts], axis=0)
    lo, hi = blo[:2] - 13.0, bhi[:2] + 13.0
    pts = _coarse_tissue(foot, 200.0) if coarse is None else coarse
    near = pts[np.all((pts[:, :2] >= lo - 3.0) & (pts[:, :2] <= hi + 3.0), axis=1)]
    z0, z1 = float(near[:, 2].min()) - 3.0, float(near[:, 2].max()) + 3.0
    step = _TRUTH_STEP_MM
    bone_h = _narrow_band_min(lambda p: foot.hallux_sdf(p), lo, hi, blo[2] - 1.0, bhi[2] + 1.0, step, 0.3)
    bone_all = _narrow_band_min(lambda p: foot.bone_sdf(p), lo, hi, z0, z1, step, 0.5)
    body = _narrow_band_min(lambda p: foot.body_sdf(p), lo, hi, z0, z1, step, 0.4)

    outline = iso_outline(bone_h, 0.0)
    silhouette = iso_outline(body, 0.0)
    dense = np.concatenate([resample_polyline(p, 0.05) for p in silhouette.polylines])
    at_mid = ndimage.map_coordinates(body.array, bone_h.plane_to_index(outline.midpoints_mm).T, order=1)
    m = margins(outline.midpoints_mm, at_mid >= 0.0, dense)
    metrics = outline_coverage(outline.lengths_mm, m, min_cover_mm)
    metrics["soft_tissue_area_mm2"] = soft_tissue_area_mm2(body.array < 0, bone_all.array < 0, bone_h.array < 0,
                                                           bone_h.spacing_mm, shell_mm)
    shapes = {"outline": outline, "margin_mm": m, "silhouette": silhouette}
    return metrics, shapes


def project_truth(affected: FootModel, healthy: FootModel, *, min_cover_mm: float = 1.0,
                  shell_mm: float = 5.0) -> tuple[dict[str, Any], dict[str, Any]]:
    """SPEC's 2-D metrics for both halluces in the DP projection, the comparison and landmarks.

    Lengths are patient-plane mm (detector mm / magnification). Returns the truth
    document and the outlines (for figures and tests).
    """
    aff, aff_shapes = _side_truth(affected, min_cover_mm, shell_mm)
    hea, h_shapes = _side_truth(healthy, min_cover_mm, shell_mm)
    h_cov = hea["covered_fraction"]
    doc = {
        "schema": "bonecover.truth/1",
        "modality": "DX",
        "units": "patient-plane mm (detector mm divided by the magnification)",
        "min_cover_mm": min_cover_mm,
        "shell_mm": shell_mm,
        "affected_side": affected.side,
        "affected": aff,
        "healthy": hea,
        "comparison": {
            "coverage_ratio": aff["covered_fraction"] / h_cov if h_cov > 0 else None,
            "soft_tissue_deficit_mm2": hea["soft_tissue_area_mm2"] - aff["soft_tissue_area_mm2"],
        },
        "landmarks_2d": {
            role: {k: [float(v[0]), float(v[1])] for k, v in foot.landmarks_mm.items()}
            for role, foot in (("affected", affected), ("healthy", healthy))
        },
    }
    return doc, {"affected": aff_shapes, "healthy": h_shapes}


# ----------------------------------------------------------------------------- wound
def _dx_defect(foot: FootModel, kind: str, rng: np.random.Generator) -> FootModel:
    """The affected foot with a wound a DP view can see (``small`` / ``large``).

    A crater in the 3-D model exposes bone in a projection only where it removes the
    toe's whole thickness along the beam. The DX phantom therefore places its wound
    at the tip or the medial border of the distal phalanx and makes it wide (a
    sphere of 25-35 mm radius, locally almost a plane) reaching 0.5-1.0 mm (small)
    or 2.0-3.0 mm (large, with a cap of the tuft removed) into the bone. ``none``
    keeps the CT phantom's healed scar.
    """
    from dataclasses import replace

    from bonecover.foot_model import _JOINT_GAP_MM, _RAYS, Defect, _place_sphere, _ray_surface_point, _surface_cloud
    from bonecover.implicit import apply_affine

    if kind == "none":
        return foot
    dp = foot.bone("hallux_distal_phalanx")
    length_d = _RAYS[0].phalanges[1][0]
    centre_local = np.array([_JOINT_GAP_MM / 2 + 0.6 * length_d, 0.0, -0.2])
    site = str(rng.choice(["tip", "medial"])) if kind == "small" else "tip"
    direction_local = {"tip": np.array([1.0, 0.0, -0.15]), "medial": np.array([0.15, -1.0, -0.2])}[site]
    direction_local = direction_local + rng.normal(0.0, 0.08, 3)
    # the wound faces the detector plane's direction (no component along the beam, z)
    n = dp.to_patient[:3, :3] @ direction_local
    n[2] = 0.0
    n /= np.linalg.norm(n)
    direction_local = np.linalg.solve(dp.to_patient[:3, :3], n)
    surface_local = _ray_surface_point(dp, centre_local, direction_local)
    site_mm = apply_affine(dp.to_patient, surface_local[None])[0]
    cloud = _surface_cloud(dp, centre_local)
    radius = float(rng.uniform(25.0, 35.0))
    depth = float(rng.uniform(0.5, 1.0)) if kind == "small" else float(rng.uniform(2.0, 3.0))
    centre = _place_sphere(cloud, site_mm, n, radius, -depth)
    cut_centre, cut_radius = None, 0.0
    if kind == "large":
        cut_radius = float(rng.uniform(3.5, 4.5))
        cut_centre = tuple(_place_sphere(cloud, site_mm, n, cut_radius, -float(rng.uniform(1.5, 2.2))))
    defect = Defect(kind, tuple(centre), radius, tuple(site_mm), tuple(n), cut_centre, cut_radius)
    return replace(foot, defect=defect)


# ----------------------------------------------------------------------------- study
def make_dx_phantom(config: DXPhantomConfig, *, with_truth: bool = True) -> DXStudy:
    """Synthesise DP radiograph(s) for ``config``, and the 2-D truth.

    The patient (anatomy, pose, wound) is drawn as for the CT phantom of the same
    seed; everything radiographic (pixel size, magnification, exposure, border,
    marker, photometric) from its own random stream.
    """
    t0 = time.perf_counter()
    ct = PhantomConfig(seed=config.seed, layout=config.layout, affected=config.affected, defect=config.defect)
    feet = sample_feet(ct, np.random.default_rng(config.seed))
    if config.defect != "none":  # the same patient, with a wound a DP view can see
        feet[config.affected] = _dx_defect(replace(feet[config.affected], defect=None), config.defect,
                                           np.random.default_rng([config.seed, 62]))
    rng = np.random.default_rng([config.seed, 60])
    pixel_mm = float(rng.uniform(0.1, 0.2)) if config.pixel_mm is None else float(config.pixel_mm)
    mag = float(rng.uniform(1.05, 1.2)) if config.magnification is None else float(config.magnification)
    mono1 = bool(rng.uniform() < 0.5) if config.monochrome1 is None else bool(config.monochrome1)
    coarse = {side: _coarse_tissue(foot, config.proximal_mm) for side, foot in feet.items()}
    groups = [("both", ("right", "left"))] if config.layout == "bilateral" else [(s, (s,)) for s in ("left", "right")]
    images: list[DXImage] = []
    for name, sides in groups:
        pts = np.concatenate([coarse[s] for s in sides])
        if config.view == "lateral":
            integral, lo, hi = lateral_integrals(feet[sides[0]], coarse[sides[0]], config.projection_mm)
        else:
            lo, hi = _field_box(pts)
            integral = line_integrals([feet[s] for s in sides], [coarse[s] for s in sides], lo, hi,
                                      config.projection_mm, hallux_step_mm=config.hallux_projection_mm)
        laterality = "B" if len(sides) == 2 else ("L" if sides[0] == "left" else "R")
        marker = None
        if config.marker:
            marker = "R" if laterality == "B" else laterality  # bilateral: the R marker beside the right foot
        det_rng = np.random.default_rng([config.seed, 61, len(images)])
        stored, origin, facts = _detector(integral, lo, hi, pixel_mm, mag, det_rng,
                                          collimation=config.collimation, marker=marker, monochrome1=mono1)
        images.append(DXImage(name, stored, "MONOCHROME1" if mono1 else "MONOCHROME2", pixel_mm, mag, laterality,
                              origin, facts))
    timings = {"render": time.perf_counter() - t0}
    truth: dict[str, Any] = {}
    if with_truth and config.view == "DP":
        t1 = time.perf_counter()
        truth, _ = project_truth(feet[config.affected], feet[config.healthy])
        timings["truth"] = time.perf_counter() - t1
    truth["phantom"] = {
        "modality": "DX", "seed": config.seed, "layout": config.layout, "affected": config.affected,
        "defect": config.defect, "view": config.view, "pixel_mm": pixel_mm, "magnification": mag,
        "source_image_distance_mm": SID_MM, "photometric": "MONOCHROME1" if mono1 else "MONOCHROME2",
        "projection_mm": config.projection_mm, "hallux_projection_mm": config.hallux_projection_mm,
        "mu_water_per_mm": MU_WATER_PER_MM,
        "images": {im.name: {"laterality": im.laterality, "shape_rc": list(im.stored.shape),
                             "plane_origin_mm": list(im.plane_origin_mm),
                             "plane_spacing_mm": im.plane_spacing_mm, **im.facts} for im in images},
        "feet": {side: {"pose_deg": list(f.params.pose_deg), "hallux_valgus_deg": f.params.hallux_valgus_deg,
                        "toe_spread_deg": f.params.toe_spread_deg} for side, f in feet.items()},
    }
    return DXStudy(config, tuple(images), feet, truth, timings)


def write_dx_phantom(study: DXStudy, out_dir: Path) -> dict[str, Path]:
    """Write the study's radiograph(s) and ``truth.json`` under ``out_dir``; returns paths.

    Layout: ``DIR/dx/IM00001.dcm`` (bilateral) or ``DIR/dx_left/`` and ``DIR/dx_right/``.
    """
    from bonecover.io.atomic import write_json_atomic
    from bonecover.io.dicom_write import new_study_meta
    from bonecover.io.dicom_write_dx import DXImageMeta, write_dx_image

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    study_meta = new_study_meta(study.config.seed)
    paths: dict[str, Path] = {}
    facts = {}
    for number, im in enumerate(study.images, start=1):
        folder = out_dir / ("dx" if im.name == "both" else f"dx_{im.name}")
        lateral = study.config.view == "lateral"
        desc = ("XR feet DP bilateral" if im.laterality == "B"
                else f"XR foot {'lateral' if lateral else 'DP'} {im.name}")
        meta = DXImageMeta(study=study_meta, series_number=number, description=desc, laterality=im.laterality,
                           pixel_mm=im.pixel_mm, magnification=im.magnification,
                           source_image_distance_mm=SID_MM, photometric=im.photometric)
        if lateral:  # columns run posterior (toes on the left), rows to the feet (plantar down)
            meta = replace(meta, view_position="LL" if im.laterality == "L" else "RL", patient_orientation=("P", "F"))
        uid = write_dx_image(im.stored, meta, folder / "IM00001.dcm")
        paths[im.name] = folder
        facts[im.name] = {"folder": folder.name, "series_instance_uid": uid, "laterality": im.laterality}
    truth = dict(study.truth)
    truth["series"] = facts
    truth["study_instance_uid"] = study_meta.study_uid
    paths["truth"] = write_json_atomic(out_dir / "truth.json", truth)
    return paths
