"""Figure 1, the registration check: the affected foot's bones with the mirrored,
registered healthy bones outlined over them, and the located hallux bones highlighted.

Top row: the whole foot in axial, coronal and sagittal maximum-intensity projections
(MIPs) on an LPS-aligned grid, healthy bones carried by ``foot_transform``; the healthy
hallux is carried by the same foot transform, so a hallux found on the wrong toe of
either foot shows as two highlights on different toes. Bottom row: the hallux, zoomed,
healthy hallux carried by ``hallux_transform`` (the one the comparison uses).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bonecover.figures._common import (
    COLOURS,
    MIP_WINDOW_HU,
    Grid,
    edge_labels,
    new_figure,
    resample_to_grid,
    scale_bar,
)

__all__ = ["draw_registration"]

#: At most this many voxels in a projection grid (speed), and its finest spacing, mm.
MAX_GRID_VOXELS = 2.5e6
FOOT_MIN_SPACING_MM = 0.6
HALLUX_MIN_SPACING_MM = 0.3
HALLUX_MARGIN_MM = 12.0
#: Healthy bones registered outside the affected crop are shown up to this far beyond it, mm.
BEYOND_CROP_MM = 25.0

# (title, numpy axis projected away in [z, y, x], LPS axis on image columns, on rows,
#  rows grow downwards?, labels left/right/top/bottom). Radiological convention:
#  patient right on the image left in axial and coronal views; anterior left in sagittal.
VIEWS = (
    ("Axial MIP (dorsoplantar)", 0, 0, 1, True, ("R", "L", "A", "P")),
    ("Coronal MIP (along the foot)", 1, 0, 2, False, ("R", "L", "S", "I")),
    ("Sagittal MIP (lateral view)", 2, 1, 2, False, ("A", "P", "S", "I")),
)


def _bbox_corners(mask: Any) -> np.ndarray:
    """(8, 3) LPS corners of the index bounding box of a mask volume's true voxels."""
    arr = np.asarray(mask.array, bool)
    lo_hi = []
    for axis in range(3):
        hit = np.flatnonzero(arr.any(axis=tuple(a for a in range(3) if a != axis)))
        lo_hi.append((hit[0], hit[-1]) if hit.size else (0, arr.shape[axis] - 1))
    (k0, k1), (j0, j1), (i0, i1) = lo_hi
    ijk = np.array([[i, j, k] for i in (i0, i1) for j in (j0, j1) for k in (k0, k1)], float)
    return mask.index_to_world(ijk)


def _grid(points: np.ndarray, min_spacing: float, margin: float) -> Grid:
    lo, hi = points.min(axis=0) - margin, points.max(axis=0) + margin
    spacing = max(min_spacing, float(np.prod(hi - lo) / MAX_GRID_VOXELS) ** (1 / 3))
    return Grid.around(lo, hi, spacing)


def _show(ax, grid: Grid, image: np.ndarray, view: tuple, overlays: list[tuple[Any, str, str]]) -> None:  # noqa: ANN001
    title, _, u, v, down, labels = view
    ext = grid.extent(u, v)
    if not down:
        ext = (ext[0], ext[1], ext[3], ext[2])
    origin = "upper" if down else "lower"
    ax.imshow(image, cmap="gray", vmin=MIP_WINDOW_HU[0], vmax=MIP_WINDOW_HU[1], extent=ext, origin=origin,
              interpolation="bilinear")
    for mask, colour, ls in overlays:
        if mask.any():
            ax.contour(mask.astype(np.float32), levels=[0.5], colors=[colour], linewidths=1.6, linestyles=ls,
                       extent=ext, origin=origin)
    ax.set_aspect("equal")
    ax.set_xlabel(f"{'xyz'[u]} (mm, patient {'LPS'[u]}+)")
    ax.set_ylabel(f"{'xyz'[v]} (mm)")
    edge_labels(ax, *labels, colour="#FFE680")


def draw_registration(report: Any, *, title_suffix: str = "") -> Figure:
    """The registration check figure of a CT comparison ``Report``."""
    aff_t, h_t = report.extras["affected_tissues"], report.extras["healthy_tissues"]
    aff_h, h_h = report.extras["affected_hallux"], report.extras["healthy_hallux"]
    foot_tx = np.asarray(report.registration.foot_transform, float)
    hallux_tx = np.asarray(report.registration.hallux_transform, float)
    doc = report.document

    # the affected crop, widened to show healthy bones registered beyond it (but not far)
    lo, hi = aff_t.ct.bounds_mm()
    h_pts = _bbox_corners(h_t.bone) @ foot_tx[:3, :3].T + foot_tx[:3, 3]
    span = np.vstack([lo, hi, np.clip(h_pts, lo - BEYOND_CROP_MM, hi + BEYOND_CROP_MM)])
    foot_grid = _grid(span, FOOT_MIN_SPACING_MM, 3.0)
    ct = resample_to_grid(aff_t.ct, foot_grid)
    a_hal = resample_to_grid(aff_h.mask, foot_grid, nearest=True, default=0) > 0
    h_bone = resample_to_grid(h_t.bone, foot_grid, transform=foot_tx, nearest=True, default=0) > 0
    h_hal_foot = resample_to_grid(h_h.mask, foot_grid, transform=foot_tx, nearest=True, default=0) > 0

    idx = np.argwhere(np.asarray(aff_h.mask.array, bool))
    hal_pts = aff_h.mask.index_to_world(idx[:, ::-1].astype(float))
    hal_grid = _grid(hal_pts, HALLUX_MIN_SPACING_MM, HALLUX_MARGIN_MM)
    ct_z = resample_to_grid(aff_t.ct, hal_grid)
    a_hal_z = resample_to_grid(aff_h.mask, hal_grid, nearest=True, default=0) > 0
    h_hal_z = resample_to_grid(h_h.mask, hal_grid, transform=hallux_tx, nearest=True, default=0) > 0
    h_bone_z = resample_to_grid(h_t.bone, hal_grid, transform=hallux_tx, nearest=True, default=0) > 0

    fig = new_figure(15.0, 10.0)
    axes = fig.subplots(2, 3, gridspec_kw={"height_ratios": [1.25, 1]})
    for col, view in enumerate(VIEWS):
        p = view[1]
        _show(axes[0, col], foot_grid, ct.max(axis=p),
              view, [(h_bone.any(axis=p), COLOURS["healthy"], "solid"),
                     (h_hal_foot.any(axis=p), COLOURS["healthy"], "dashed"),
                     (a_hal.any(axis=p), COLOURS["affected"], "solid")])
        axes[0, col].set_title(f"{view[0]}: whole foot")
        _show(axes[1, col], hal_grid, ct_z.max(axis=p), view,
              [(h_bone_z.any(axis=p) & ~h_hal_z.any(axis=p), COLOURS["healthy"], "dotted"),
               (h_hal_z.any(axis=p), COLOURS["healthy"], "solid"),
               (a_hal_z.any(axis=p), COLOURS["affected"], "solid")])
        axes[1, col].set_title(f"{view[0].split(' (')[0]}: hallux")
        scale_bar(axes[0, col], 20.0 if foot_grid.spacing_mm < 1.5 else 50.0)
        scale_bar(axes[1, col], 10.0)
    reg = doc["registration"]
    fig.suptitle(f"Registration check: {doc['affected_side']} (affected) foot, bone MIP, with the mirrored "
                 f"{'left' if doc['affected_side'] == 'right' else 'right'} (healthy) foot's bones overlaid  -  "
                 f"hallux residual {reg['residual_mm']:.2f} mm, QA {reg['qa'].upper()}{title_suffix}")
    handles = [
        Line2D([], [], color=COLOURS["affected"], lw=2, label="affected hallux bones (as located)"),
        Line2D([], [], color=COLOURS["healthy"], lw=2, label="healthy bones, mirrored (top: foot transform)"),
        Line2D([], [], color=COLOURS["healthy"], lw=2, ls="dashed",
               label="healthy hallux via the foot transform (must lie on the orange one)"),
        Line2D([], [], color=COLOURS["healthy"], lw=2, ls="solid",
               label="bottom: healthy hallux via the hallux transform (used for the comparison)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
    return fig
