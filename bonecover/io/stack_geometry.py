"""Geometry of a stack of parallel 2-D slices, and its resampling onto a regular grid.

Given the ImagePositionPatient of every slice and their shared orientation, this
module orders the slices along the slice normal, measures the steps between them,
finds duplicates, gaps, non-uniform steps and gantry tilt (slice origins that
shift within the slice plane from one slice to the next), and builds the exact
LPS affine of the stack. When the stack is not a regular orthogonal grid,
:func:`resample_stack` interpolates it onto one whose axes are the row, column
and normal directions, so every voxel sits where the scanner put that tissue.

All positions are DICOM LPS millimetres. Pure numpy/SciPy; no file access.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from bonecover.volume import affine_from_geometry

__all__ = ["Gap", "StackGeometry", "analyse_stack", "resample_stack", "orientation_axes"]

logger = logging.getLogger(__name__)

#: Two slices closer than this along the normal (mm) share one position.
DUPLICATE_TOL_MM = 0.01
#: A step larger than this many times the local median step is a gap.
GAP_FACTOR = 1.5
#: Positions within this fraction of a step of a regular grid count as uniform.
UNIFORM_TOL = 0.05
#: In-plane slice shifts below this fraction of a pixel are ignored.
SHIFT_TOL_PX = 0.05


def orientation_axes(iop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, column and normal unit vectors from ImageOrientationPatient.

    Parameters
    ----------
    iop : (6,) ImageOrientationPatient: direction of increasing column index
        (along a row), then of increasing row index (down a column), LPS.

    Returns
    -------
    (u, v, n) : (3,) unit vectors; ``n = u x v`` is the slice normal.
    """
    iop = np.asarray(iop, dtype=float).reshape(6)
    u = iop[:3] / np.linalg.norm(iop[:3])
    v = iop[3:] / np.linalg.norm(iop[3:])
    n = np.cross(u, v)
    n /= np.linalg.norm(n)
    return u, v, n


@dataclass(frozen=True)
class Gap:
    """A missing stretch between two consecutive slices.

    Attributes
    ----------
    after_index : index (in normal order) of the slice before the gap.
    start_mm, end_mm : normal positions of the slices on each side, mm.
    step_mm : the step found, mm.
    expected_mm : the local median step, mm.
    """

    after_index: int
    start_mm: float
    end_mm: float
    step_mm: float
    expected_mm: float

    def describe(self) -> str:
        """One-line description: where and how large."""
        missing = max(1, round(self.step_mm / self.expected_mm) - 1)
        return (
            f"{self.step_mm:.2f} mm gap between slice positions {self.start_mm:.2f} and "
            f"{self.end_mm:.2f} mm along the normal (about {missing} slice(s) missing; "
            f"expected {self.expected_mm:.2f} mm)"
        )


@dataclass(frozen=True)
class StackGeometry:
    """Where the slices of a stack are, in normal order.

    Attributes
    ----------
    order : (n,) indices that sort the input slices along the normal.
    u, v, n : (3,) unit row, column and normal directions (LPS).
    pixel_spacing_mm : (2,) (between rows, between columns) = PixelSpacing, mm.
    positions_mm : (n, 3) ImagePositionPatient of the sorted slices, mm.
    normal_mm : (n,) position of each sorted slice along ``n``, mm.
    offsets_mm : (n, 2) in-plane shift of each slice origin from the first one,
        along (u, v), mm. Non-zero and growing for a tilted gantry.
    steps_mm : (n - 1,) normal distance between consecutive slices, mm.
    duplicates : pairs of sorted indices that share one normal position.
    gaps : steps larger than :data:`GAP_FACTOR` times the local step (see
        :func:`analyse_stack`).
    """

    order: np.ndarray
    u: np.ndarray
    v: np.ndarray
    n: np.ndarray
    pixel_spacing_mm: np.ndarray
    positions_mm: np.ndarray
    normal_mm: np.ndarray
    offsets_mm: np.ndarray
    steps_mm: np.ndarray
    duplicates: tuple[tuple[int, int], ...]
    gaps: tuple[Gap, ...]

    @property
    def n_slices(self) -> int:
        """Number of slices."""
        return int(self.order.size)

    @property
    def median_step_mm(self) -> float:
        """Median normal distance between distinct consecutive slices, mm."""
        steps = self.steps_mm[self.steps_mm > DUPLICATE_TOL_MM]
        return float(np.median(steps)) if steps.size else 0.0

    @property
    def uniform(self) -> bool:
        """True when every slice lies within :data:`UNIFORM_TOL` of a step of a regular grid."""
        if self.n_slices < 2 or self.duplicates:
            return self.n_slices >= 1 and not self.duplicates
        step = (self.normal_mm[-1] - self.normal_mm[0]) / (self.n_slices - 1)
        if step <= 0:
            return False
        grid = self.normal_mm[0] + step * np.arange(self.n_slices)
        return bool(np.max(np.abs(self.normal_mm - grid)) <= UNIFORM_TOL * step)

    @property
    def shifted(self) -> bool:
        """True when slice origins move within the slice plane (gantry tilt or jitter)."""
        px = self.offsets_mm / self.pixel_spacing_mm[::-1][np.newaxis, :]
        return bool(np.max(np.abs(px), initial=0.0) > SHIFT_TOL_PX)

    @property
    def tilt_deg(self) -> float:
        """Angle between the stacking direction and the slice normal, degrees.

        The stacking direction is the least-squares slope of in-plane offset against
        normal position; 0 for an orthogonal stack, the gantry tilt for a tilted one.
        """
        if self.n_slices < 2:
            return 0.0
        t = self.normal_mm - self.normal_mm.mean()
        denom = float(np.sum(t * t))
        if denom <= 0:
            return 0.0
        shear = (t @ (self.offsets_mm - self.offsets_mm.mean(axis=0))) / denom
        return float(np.degrees(np.arctan(np.linalg.norm(shear))))

    @property
    def regular(self) -> bool:
        """True when the stack is already a uniform orthogonal grid (no resampling)."""
        return self.uniform and not self.shifted and not self.gaps

    def affine(self) -> np.ndarray:
        """(4, 4) index-to-LPS affine of the stack taken as a regular grid.

        Exact when :attr:`regular`; uses the end-to-end mean step along the normal.
        """
        step = (
            (self.normal_mm[-1] - self.normal_mm[0]) / (self.n_slices - 1)
            if self.n_slices > 1
            else 1.0
        )
        spacing = (self.pixel_spacing_mm[1], self.pixel_spacing_mm[0], step)
        return affine_from_geometry(
            self.positions_mm[0], spacing, np.column_stack([self.u, self.v, self.n])
        )


def analyse_stack(
    positions_mm: np.ndarray, iop: np.ndarray, pixel_spacing_mm: np.ndarray
) -> StackGeometry:
    """Order slices along their normal and describe the stack.

    Parameters
    ----------
    positions_mm : (n, 3) ImagePositionPatient of each slice (any order), mm.
    iop : (6,) shared ImageOrientationPatient.
    pixel_spacing_mm : (2,) shared PixelSpacing (between rows, between columns), mm.

    Returns
    -------
    StackGeometry
        Sorting uses the position along the normal only -- never file names or
        InstanceNumber. A step is a gap when it exceeds :data:`GAP_FACTOR` times the
        larger of the median of the (up to) 4 steps before it and of the 4 after it,
        so a missing slice is found while a change from one regular spacing to
        another (as in some GE helical exports) is not taken for a gap.
    """
    pos = np.asarray(positions_mm, dtype=float).reshape(-1, 3)
    u, v, n = orientation_axes(iop)
    t = pos @ n
    order = np.argsort(t, kind="stable")
    pos_s = pos[order]
    t_s = t[order]
    rel = pos_s - pos_s[0]
    offsets = np.column_stack([rel @ u, rel @ v])
    steps = np.diff(t_s)
    dup_idx = np.flatnonzero(steps <= DUPLICATE_TOL_MM)
    duplicates = tuple((int(i), int(i + 1)) for i in dup_idx)
    gaps = _find_gaps(t_s, steps)
    return StackGeometry(
        order=order,
        u=u,
        v=v,
        n=n,
        pixel_spacing_mm=np.asarray(pixel_spacing_mm, dtype=float).reshape(2),
        positions_mm=pos_s,
        normal_mm=t_s,
        offsets_mm=offsets,
        steps_mm=steps,
        duplicates=duplicates,
        gaps=gaps,
    )


def _find_gaps(t_sorted: np.ndarray, steps: np.ndarray) -> tuple[Gap, ...]:
    valid = steps > DUPLICATE_TOL_MM
    s = steps[valid]
    idx = np.flatnonzero(valid)
    if s.size < 2:
        return ()
    gaps = []
    half = 4
    for m in range(s.size):
        left, right = s[max(0, m - half) : m], s[m + 1 : m + 1 + half]
        sides = [float(np.median(x)) for x in (left, right) if x.size]
        expected = max(sides)
        if s[m] > GAP_FACTOR * expected:
            k = int(idx[m])
            gaps.append(
                Gap(
                    after_index=k,
                    start_mm=float(t_sorted[k]),
                    end_mm=float(t_sorted[k + 1]),
                    step_mm=float(s[m]),
                    expected_mm=expected,
                )
            )
    return tuple(gaps)


def resample_stack(
    stack: np.ndarray, geometry: StackGeometry, *, fill_value: float
) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate a stack onto a uniform orthogonal grid (axes u, v, n).

    Parameters
    ----------
    stack : (n, rows, cols) slices already in normal order (``geometry.order``), HU.
    geometry : the stack's :class:`StackGeometry` (no duplicate positions).
    fill_value : value for grid points outside every slice (air, HU).

    Returns
    -------
    (array, affine)
        ``array`` is ``(m, rows', cols')``, of the stack's dtype for integer stacks
        (rounded to the nearest integer) and float32 otherwise; ``affine`` its 4x4
        index-to-LPS matrix. The grid spans the first to the last slice along the
        normal with ``m = round(extent / median step) + 1`` equal steps (both end
        slices are kept exactly) and, in plane, the union of all shifted slice
        footprints at the original pixel spacing. Interpolation is linear between
        the two nearest slices along the normal and bilinear in plane. Memory: the
        output plus, for shifted (tilted) stacks, one float32 copy of the input.
    """
    if geometry.duplicates:
        raise ValueError("resample_stack needs distinct slice positions; remove duplicates first")
    nsl, rows, cols = stack.shape
    dr, dc = (float(x) for x in geometry.pixel_spacing_mm)
    t = geometry.normal_mm
    extent = float(t[-1] - t[0])
    m = max(2, int(round(extent / geometry.median_step_mm)) + 1)
    step = extent / (m - 1)

    a, b = geometry.offsets_mm[:, 0], geometry.offsets_mm[:, 1]
    a_lo, b_lo = float(a.min()), float(b.min())
    cols_out = int(round((a.max() - a_lo) / dc)) + cols
    rows_out = int(round((b.max() - b_lo) / dr)) + rows

    if geometry.shifted:
        # Each input slice placed once on the output in-plane grid (pure translation).
        placed = np.full((nsl, rows_out, cols_out), fill_value, dtype=np.float32)
        for k in range(nsl):
            _place(placed[k], stack[k], (b[k] - b_lo) / dr, (a[k] - a_lo) / dc, fill_value)
    else:
        placed = stack  # same in-plane grid for every slice: interpolate along the normal only
        rows_out, cols_out = rows, cols

    integer = np.issubdtype(stack.dtype, np.integer)
    out = np.empty((m, rows_out, cols_out), dtype=stack.dtype if integer else np.float32)
    tq = t[0] + step * np.arange(m)
    tq[-1] = t[-1]
    upper = np.clip(np.searchsorted(t, tq, side="right"), 1, nsl - 1)
    lower = upper - 1
    w = (tq - t[lower]) / (t[upper] - t[lower])
    work = np.empty((rows_out, cols_out), dtype=np.float32)
    for q in range(m):
        lo, hi, wq = lower[q], upper[q], float(w[q])
        if wq <= 1e-6 or wq >= 1 - 1e-6:
            src = placed[lo] if wq <= 1e-6 else placed[hi]
            if integer and src.dtype != out.dtype:
                np.rint(src, out=work)
                out[q] = work
            else:
                out[q] = src
            continue
        np.multiply(placed[lo], np.float32(1 - wq), out=work, casting="unsafe")
        work += np.float32(wq) * placed[hi]
        if integer:
            np.rint(work, out=work)
        out[q] = work
    origin = geometry.positions_mm[0] + a_lo * geometry.u + b_lo * geometry.v
    affine = affine_from_geometry(
        origin, (dc, dr, step), np.column_stack([geometry.u, geometry.v, geometry.n])
    )
    return out, affine


def _place(dst: np.ndarray, src: np.ndarray, shift_r: float, shift_c: float, fill: float) -> None:
    """Write ``src`` into ``dst`` translated by (shift_r, shift_c) >= 0 pixels, bilinearly."""
    rows, cols = src.shape
    ir, ic = int(np.floor(shift_r)), int(np.floor(shift_c))
    fr, fc = shift_r - ir, shift_c - ic
    img = np.asarray(src, dtype=np.float32)
    if fr > 1e-6 or fc > 1e-6:
        # pad by one pixel of fill so the shifted edge blends into it, then shift
        pad = np.pad(img, 1, mode="constant", constant_values=fill)
        img = ndimage.shift(pad, (fr, fc), order=1, mode="nearest", prefilter=False)[1:, 1:]
        hr, hc = rows + 1, cols + 1
    else:
        hr, hc = rows, cols
    hr = min(hr, dst.shape[0] - ir)
    hc = min(hc, dst.shape[1] - ic)
    dst[ir : ir + hr, ic : ic + hc] = img[:hr, :hc]
