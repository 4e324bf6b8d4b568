"""Figures of a radiograph comparison (matplotlib ``Figure`` objects, Agg; no pyplot state).

- ``registration_figure``: both feet, each with its bone outline, and the mirrored
  healthy foot's registered bone outline overlaid on the affected foot.
- ``closeup_figure``: the two halluces side by side (healthy mirrored so both look
  alike), the margin coloured along the bone outline (cividis, colour bar in mm),
  the body silhouette, a 10 mm scale bar and orientation labels.
- ``profile_figure``: the margin along the outline (distance from the tip) for both sides.

Saving is the caller's job (``bonecover.io``); every figure is meant for >= 150 dpi.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from bonecover.radiograph.register import apply_2d, outline_points

__all__ = ["closeup_figure", "dx_figures", "profile_figure", "registration_figure"]

_CMAP = "cividis"  # colour-blind safe, monotonic in lightness


def _extent(image: Any) -> tuple[float, float, float, float]:
    sy, sx = image.spacing_mm
    ox, oy = image.origin_mm
    return (ox - 0.5 * sx, ox + (image.shape[1] - 0.5) * sx, oy + (image.shape[0] - 0.5) * sy, oy - 0.5 * sy)


def _show(ax: Any, image: Any, arr: np.ndarray | None = None, body: np.ndarray | None = None) -> None:
    """Grey image; the window from the air level to the body's 99.5th percentile when known."""
    a = np.asarray(image.array if arr is None else arr, float)
    lo, hi = np.percentile(a, [1, 99.5])
    if body is not None and body.any():
        lo, hi = float(np.percentile(a[~body], 20)), float(np.percentile(a[body], 99.5))
    ax.imshow(a, cmap="gray", vmin=lo, vmax=hi, extent=_extent(image), interpolation="antialiased")


def registration_figure(report: Any) -> Figure:
    """Both feet with their bone outlines; the registered mirrored healthy outline on the affected foot."""
    ex = report.extras
    a, h = ex["affected_side"], ex["healthy_side"]
    fig = Figure(figsize=(11, 5.8), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, side, title in ((axes[0], a, "affected"), (axes[1], h, "healthy")):
        _show(ax, side.image, body=side.seg.body & side.seg.field)
        pts = outline_points(side.image, side.seg.bone & side.foot.mask, max_points=20000,
                             keep=side.seg.inner_field)
        ax.plot(pts[:, 0], pts[:, 1], ",", color="#56B4E9", alpha=0.7)
        ys, xs = np.nonzero(side.foot.mask)
        box = side.image.index_to_plane(np.array([[ys.min(), xs.min()], [ys.max(), xs.max()]], float))
        ax.set_xlim(box[0, 0] - 5, box[1, 0] + 5)
        ax.set_ylim(box[1, 1] + 5, box[0, 1] - 5)
        ax.set_title(f"{title} foot ({side.foot.side})")
        ax.set_xlabel("mm")
    h_pts = outline_points(h.image, h.seg.bone & h.foot.mask, max_points=20000, keep=h.seg.inner_field)
    moved = apply_2d(report.registration.foot_transform, h_pts)
    axes[0].plot(moved[:, 0], moved[:, 1], ",", color="#E69F00", alpha=0.8)
    hal = apply_2d(report.registration.hallux_transform,
                   outline_points(h.image, ex["healthy_hallux"].mask, max_points=5000))
    axes[0].plot(hal[:, 0], hal[:, 1], ".", color="#D55E00", ms=1.2)
    reg = report.document["registration"]
    axes[0].text(0.02, 0.02, f"blue: affected bone outline\norange: mirrored healthy, foot transform\n"
                 f"red: healthy hallux, hallux transform\nresidual {reg['residual_mm']:.2f} mm, QA {reg['qa']}, "
                 f"scale {reg['scale']:.3f}", transform=axes[0].transAxes, fontsize=8, color="white",
                 va="bottom", bbox={"facecolor": "black", "alpha": 0.6, "pad": 3})
    fig.suptitle("Registration check: mirrored healthy bone outline on the affected foot")
    return fig


def _closeup(ax: Any, side: Any, margin: Any, norm: Normalize, title: str, mirror: bool,
             min_cover: float) -> Any:
    img = side.image
    _show(ax, img, body=side.seg.body & side.seg.field)
    segs = []
    for p in margin.outline.polylines:
        segs.append(np.stack([p[:-1], p[1:]], axis=1))
    segs_arr = np.concatenate(segs) if segs else np.zeros((0, 2, 2))
    lc = LineCollection(list(segs_arr), cmap=_CMAP, norm=norm, linewidths=2.2)
    lc.set_array(margin.margin_mm)
    ax.add_collection(lc)
    exposed = margin.margin_mm < min_cover
    if exposed.any():  # exposed outline drawn over, in vermillion, so it shows against air too
        ax.add_collection(LineCollection(list(segs_arr[exposed]), colors="#D55E00", linewidths=4.0,
                                         label=f"exposed (< {min_cover:g} mm)"))
    # outline a projection cannot call either way: covered, but within the margin uncertainty
    u = float(margin.metrics["exposed_contour_band_mm"]["margin_uncertainty_mm"])
    doubtful = ~exposed & (margin.margin_mm < min_cover + u)
    if doubtful.any():
        ax.add_collection(LineCollection(list(segs_arr[doubtful]), colors="#E69F00", linewidths=4.0,
                                         linestyles=(0, (1.5, 1.0)),
                                         label=f"{min_cover:g}-{min_cover + u:g} mm: may be exposed"))
    if exposed.any() or doubtful.any():
        # below the image, clear of the orientation labels and the scale bar
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.01), fontsize=8, frameon=False, ncols=2)
    if len(margin.silhouette_mm):
        ax.plot(margin.silhouette_mm[:, 0], margin.silhouette_mm[:, 1], ",", color="#F0E442")
    lo = margin.outline.midpoints_mm.min(axis=0) - 12.0
    hi = margin.outline.midpoints_mm.max(axis=0) + 12.0
    ax.set_xlim((hi[0], lo[0]) if mirror else (lo[0], hi[0]))
    ax.set_ylim(hi[1], lo[1])
    # scale bar 10 mm
    x0 = hi[0] - 14 if not mirror else hi[0] - 4
    ax.plot([x0, x0 + 10] if not mirror else [x0, x0 - 10], [hi[1] - 4, hi[1] - 4], color="white", lw=3)
    ax.text(x0 + (5 if not mirror else -5), hi[1] - 5.5, "10 mm", color="white", ha="center", fontsize=8)
    foot = side.foot
    med = "medial" if (foot.medial[0] > 0) != mirror else "lateral"
    ax.text(0.98, 0.5, med, transform=ax.transAxes, rotation=90, va="center", ha="right", color="white", fontsize=9)
    ax.text(0.02, 0.5, "lateral" if med == "medial" else "medial", transform=ax.transAxes, rotation=90,
            va="center", ha="left", color="white", fontsize=9)
    ax.text(0.5, 0.98, "distal" if foot.distal[1] < 0 else "proximal", transform=ax.transAxes, ha="center",
            va="top", color="white", fontsize=9)
    ax.text(0.5, 0.02, "proximal" if foot.distal[1] < 0 else "distal", transform=ax.transAxes, ha="center",
            va="bottom", color="white", fontsize=9)
    m = margin.metrics
    band = m["exposed_contour_band_mm"]
    ax.set_title(f"{title}: covered {m['covered_fraction']:.2f}, exposed {m['exposed_contour_mm']:.1f} mm "
                 f"({band['low']:.1f}-{band['high']:.1f}),\n"
                 f"margin median {m['margin_mm']['median']:.1f} mm", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    return lc


def closeup_figure(report: Any) -> Figure:
    """The halluces side by side, margin coloured along the bone outline."""
    ex = report.extras
    fig = Figure(figsize=(11, 6.5), layout="constrained")
    axes = fig.subplots(1, 2)
    vmax = float(max(np.percentile(report.affected.margin_mm, 98), np.percentile(report.healthy.margin_mm, 98), 4.0))
    norm = Normalize(0.0, vmax)
    aff_mirror = False
    # show the healthy hallux mirrored, so both read the same way round
    min_cover = float(report.document["min_cover_mm"])
    _closeup(axes[0], ex["affected_side"], report.affected, norm, f"affected ({ex['affected_side'].foot.side})",
             aff_mirror, min_cover)
    lc = _closeup(axes[1], ex["healthy_side"], report.healthy, norm,
                  f"healthy ({ex['healthy_side'].foot.side}), mirrored", True, min_cover)
    cb = fig.colorbar(lc, ax=axes, shrink=0.8, label="soft-tissue margin (mm)")
    cb.ax.axhline(report.document["min_cover_mm"], color="red", lw=1.5)
    fig.suptitle(f"Hallux soft-tissue margin (DP radiograph; exposed below {report.document['min_cover_mm']:g} mm, "
                 "red line on the colour bar)")
    return fig


def _profiles(margin: Any, foot: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """Margin along each phalanx outline (distal phalanx first): arc length from the most
    distal point, running medially first (mm), and the margin there."""
    out = []
    which = margin.outline.which
    for n in np.unique(which):
        sel = which == n
        mids = margin.outline.midpoints_mm[sel]
        lens = margin.outline.lengths_mm[sel]
        m = margin.margin_mm[sel]
        d = (mids - foot.centre_mm) @ foot.distal
        med = (mids - foot.centre_mm) @ foot.medial
        order = np.roll(np.arange(len(mids)), -int(np.argmax(d)))
        ahead = order[1: max(2, len(order) // 10)]
        if len(ahead) and med[ahead].mean() < med[order[0]]:  # run medially first
            order = np.concatenate([order[:1], order[1:][::-1]])
        s = np.cumsum(lens[order]) - 0.5 * lens[order]
        out.append((float(d.max()), s, m[order]))
    out.sort(key=lambda t: -t[0])
    return [(s, m) for _, s, m in out]


def profile_figure(report: Any) -> Figure:
    """Margin along the bone outline of each phalanx (from its most distal point, medially
    first) for both sides."""
    ex = report.extras
    a = _profiles(report.affected, ex["affected_side"].foot)
    h = _profiles(report.healthy, ex["healthy_side"].foot)
    n = max(1, min(2, len(a), len(h)))
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n, sharey=True))
    names = ["distal phalanx", "proximal phalanx"] if n == 2 else ["hallux phalanges"]
    for i, ax in enumerate(axes):
        for prof, label, colour in ((a[i], "affected", "#D55E00"), (h[i], "healthy (mirrored)", "#0072B2")):
            ax.plot(prof[0], prof[1], color=colour, label=label, lw=1.3)
        ax.axhline(report.document["min_cover_mm"], color="grey", ls="--", lw=1, label="exposure threshold")
        ax.set_xlabel(f"{names[i]}: mm along the outline from its tip, medial side first", fontsize=9)
    top = max(float(np.max(p[1])) for p in a[:n] + h[:n])
    axes[0].set_ylim(0, top * 1.05 + 0.2)
    axes[0].set_ylabel("soft-tissue margin (mm)")
    axes[-1].legend(loc="upper right", fontsize=9)
    fig.suptitle("Margin profile along the hallux bone outline")
    return fig


def dx_figures(report: Any) -> dict[str, tuple[Figure, str]]:
    """Every figure of a radiograph report: name -> (figure, caption)."""
    return {
        "registration_dx.png": (registration_figure(report),
                                "Registration check: the mirrored healthy bone outline (orange, red on the hallux) "
                                "on the affected foot's bone outline (blue)."),
        "hallux_margin_dx.png": (closeup_figure(report),
                                 "The affected and the mirrored healthy hallux; the bone outline coloured by the "
                                 "soft-tissue margin (mm), the body silhouette in yellow."),
        "margin_profile_dx.png": (profile_figure(report),
                                  "Soft-tissue margin along the hallux bone outline, affected and healthy."),
    }


def draw_dx_figures(report: Any) -> list[Any]:
    """Every figure of a radiograph report as ``bonecover.figures.FigurePNG`` (PNG at 150 dpi)."""
    from bonecover.figures import FigurePNG
    from bonecover.figures._common import png_bytes

    return [FigurePNG(name, caption, png_bytes(fig)) for name, (fig, caption) in dx_figures(report).items()]
