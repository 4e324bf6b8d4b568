"""Figure 2, hallux slices: matched long-axis (sagittal and axial) and cross-sectional
(coronal) slices through the hallux, affected beside the mirrored healthy one.

The three planes are set in the affected hallux frame: sagittal and axial along the
hallux axis, coronal across it through a point just inside the bone under the thinnest
cover (the exposed bone's centre when there is exposure), so a wound is cut in profile
by at least two of them. The healthy CT is sampled at the same
points carried back through the inverse of ``hallux_transform``, so both columns show
the same anatomy at the same scale, in the same window. Overlays: the measured bone
surface elements near the plane (exposed ones in magenta), the skin (body edge).

Display conventions: sagittal with distal (the toes, anterior) on the image left and
dorsal up; axial (dorsoplantar) with distal up; coronal with dorsal up; in axial and
coronal the patient's right is on the image left (radiological convention). The
labels are derived from the hallux frame and the patient axes, never assumed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bonecover.figures._common import (
    COLOURS,
    CT_WINDOW_HU,
    edge_labels,
    new_figure,
    patient_direction_letter,
    sample_points,
    scale_bar,
)

__all__ = ["draw_slices", "focus_point"]

PIXEL_MM = 0.2
#: Half width of the slices across the hallux, mm; margin beyond base and tip, mm.
HALF_WIDTH_MM = 15.0
BASE_MARGIN_MM = 4.0
TIP_MARGIN_MM = 9.0
#: Surface elements within this distance of a plane are drawn on it, mm.
SLAB_MM = 0.3
#: How far inside the bone the slices' common point lies, mm.
DEPTH_MM = 2.0


def focus_point(points_mm: np.ndarray, normals: np.ndarray, areas: np.ndarray, thickness: np.ndarray,
                min_cover_mm: float) -> tuple[np.ndarray, str]:
    """The point the slices go through: just inside the bone under the thinnest cover.

    Returns the (3,) LPS point and a phrase saying what it is.
    """
    exposed = thickness < min_cover_mm
    if exposed.any():
        sel, what = exposed, "through the exposed bone"
    else:
        sel, what = thickness <= np.quantile(thickness, 0.02), "through the thinnest cover"
    centre = np.average(points_mm[sel], axis=0, weights=areas[sel])
    idx = np.flatnonzero(sel)[np.argmin(np.linalg.norm(points_mm[sel] - centre, axis=1))]
    return points_mm[idx] - DEPTH_MM * normals[idx], what


def _planes(frame: Any, q: np.ndarray) -> list[dict[str, Any]]:
    """Sagittal, axial and coronal planes: centre, image-right and image-down unit vectors, size.

    The sagittal and axial planes contain the hallux axis (at the level of ``q``); the
    coronal plane is perpendicular to it through ``q``.
    """
    axis, dorsal, medial = frame.axis, frame.dorsal, frame.medial
    to_left = medial if medial[0] >= 0 else -medial  # image right = patient left (+x)
    along_q = float((q - frame.base_mm) @ axis)
    lo, hi = -BASE_MARGIN_MM - along_q, frame.length_mm + TIP_MARGIN_MM - along_q
    on_axis = frame.base_mm + along_q * axis
    planes = []
    # long-axis planes through the hallux axis: a wound on the dorsum, sole or tip is cut in
    # profile by the sagittal, one on the medial or lateral side (or tip) by the axial plane
    # sagittal: distal on the left, dorsal up
    planes.append({"name": "sagittal", "centre": on_axis, "right": -axis, "down": -dorsal,
                   "u": (-hi, -lo), "v": (-HALF_WIDTH_MM, HALF_WIDTH_MM)})
    # axial (dorsoplantar): distal up, patient left on the right
    planes.append({"name": "axial", "centre": on_axis, "right": to_left, "down": -axis,
                   "u": (-HALF_WIDTH_MM, HALF_WIDTH_MM), "v": (-hi, -lo)})
    # coronal (cross-section): dorsal up, patient left on the right; through q
    planes.append({"name": "coronal", "centre": q, "right": to_left, "down": -dorsal,
                   "u": (-HALF_WIDTH_MM, HALF_WIDTH_MM), "v": (-HALF_WIDTH_MM, HALF_WIDTH_MM)})
    return planes


def _label(vector: np.ndarray, frame: Any) -> str:
    """Anatomical name of a direction in the hallux frame, with its patient letter(s)."""
    comps = {"distal": frame.axis, "proximal": -frame.axis, "dorsal": frame.dorsal, "plantar": -frame.dorsal,
             "medial": frame.medial, "lateral": -frame.medial}
    name = max(comps, key=lambda k: float(comps[k] @ vector))
    return f"{name} ({patient_direction_letter(vector)})"


def _grid_points(plane: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    us = np.arange(plane["u"][0], plane["u"][1] + PIXEL_MM / 2, PIXEL_MM)
    vs = np.arange(plane["v"][0], plane["v"][1] + PIXEL_MM / 2, PIXEL_MM)
    uu, vv = np.meshgrid(us, vs)
    pts = plane["centre"] + uu[..., None] * plane["right"] + vv[..., None] * plane["down"]
    return pts, us, vs


def _panel(ax, plane: dict[str, Any], tissues: Any, transform: np.ndarray | None,  # noqa: ANN001
           surf_pts: np.ndarray, thickness: np.ndarray, min_cover: float, frame: Any) -> None:
    pts, us, vs = _grid_points(plane)
    ct = sample_points(tissues.ct, pts, transform=transform)
    body = sample_points(tissues.body, pts, transform=transform, default=0.0)
    ext = (us[0] - PIXEL_MM / 2, us[-1] + PIXEL_MM / 2, vs[-1] + PIXEL_MM / 2, vs[0] - PIXEL_MM / 2)
    ax.imshow(ct, cmap="gray", vmin=CT_WINDOW_HU[0], vmax=CT_WINDOW_HU[1], extent=ext, origin="upper",
              interpolation="bilinear")
    if body.max() > 0.5 > body.min():
        ax.contour(us, vs, body, levels=[0.5], colors=[COLOURS["skin"]], linewidths=1.4)
    normal = np.cross(plane["right"], plane["down"])
    rel = surf_pts - plane["centre"]
    near = np.abs(rel @ normal) <= SLAB_MM
    u, v = rel[near] @ plane["right"], rel[near] @ plane["down"]
    inside = (u >= us[0]) & (u <= us[-1]) & (v >= vs[0]) & (v <= vs[-1])
    exp = thickness[near] < min_cover
    ax.scatter(u[inside & ~exp], v[inside & ~exp], s=1.2, c=COLOURS["bone"], linewidths=0)
    ax.scatter(u[inside & exp], v[inside & exp], s=7, c=COLOURS["exposed"], linewidths=0)
    ax.set_xlim(ext[0], ext[1])
    ax.set_ylim(ext[2], ext[3])
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal")
    edge_labels(ax, _label(-plane["right"], frame), _label(plane["right"], frame),
                _label(-plane["down"], frame), _label(plane["down"], frame), colour="#FFE680")
    scale_bar(ax, 10.0)


def draw_slices(report: Any, *, title_suffix: str = "") -> Figure:
    """The hallux slices figure of a CT comparison ``Report``."""
    doc = report.document
    aff_t, h_t = report.extras["affected_tissues"], report.extras["healthy_tissues"]
    frame = report.extras["affected_hallux"].frame
    tx = np.asarray(report.registration.hallux_transform, float)
    min_cover = float(doc["min_cover_mm"])
    a, h = report.affected, report.healthy
    q, what = focus_point(a.surface.points_mm, a.surface.normals, a.surface.areas_mm2, a.thickness_mm, min_cover)
    h_pts = h.surface.points_mm @ tx[:3, :3].T + tx[:3, 3]
    planes = _planes(frame, q)

    fig = new_figure(13.0, 11.0)
    gs = fig.add_gridspec(2, 4, height_ratios=[0.75, 1.45])
    slots = {("sagittal", 0): gs[0, 0:2], ("sagittal", 1): gs[0, 2:4], ("axial", 0): gs[1, 0],
             ("axial", 1): gs[1, 1], ("coronal", 0): gs[1, 2], ("coronal", 1): gs[1, 3]}
    healthy_side = "left" if doc["affected_side"] == "right" else "right"
    for plane in planes:
        for col, (tissues, transform, pts, thick, who) in enumerate((
                (aff_t, None, a.surface.points_mm, a.thickness_mm, f"Affected ({doc['affected_side']})"),
                (h_t, tx, h_pts, h.thickness_mm, f"Healthy ({healthy_side}, mirrored)"))):
            ax = fig.add_subplot(slots[(plane["name"], col)])
            _panel(ax, plane, tissues, transform, pts, thick, min_cover, frame)
            ax.set_title(f"{who}\n{plane['name']}", fontsize=11)
    fig.suptitle(f"Hallux slices, affected beside mirrored healthy (same planes, window {CT_WINDOW_HU[0]:.0f} to "
                 f"{CT_WINDOW_HU[1]:.0f} HU)\nsagittal and axial along the hallux axis, coronal {what}"
                 f"{title_suffix}")
    handles = [
        Line2D([], [], color=COLOURS["skin"], lw=2, label="skin (edge of the body)"),
        Line2D([], [], color=COLOURS["bone"], marker="o", ls="none", ms=5, label="bone surface as measured"),
        Line2D([], [], color=COLOURS["exposed"], marker="o", ls="none", ms=7,
               label=f"exposed bone (cover < {min_cover:g} mm)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    return fig
