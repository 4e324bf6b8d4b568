"""Figure 4, distribution: how much of the hallux bone surface has how much cover, both
sides, with the ``min_cover_mm`` line, and the regional table (dorsal, plantar, medial,
lateral, tip). Area-weighted throughout, like the report's statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from bonecover.figures._common import COLOURS, new_figure
from bonecover.regions import REGIONS
from bonecover.report_html import format_value

__all__ = ["cumulative_area_percent", "draw_distribution"]

BIN_MM = 0.25


def cumulative_area_percent(thickness_mm: np.ndarray, areas_mm2: np.ndarray, at_mm: np.ndarray) -> np.ndarray:
    """Percentage of the bone-surface area whose cover is below each of ``at_mm``."""
    order = np.argsort(thickness_mm)
    t, a = thickness_mm[order], np.cumsum(areas_mm2[order])
    below = np.searchsorted(t, at_mm, side="left")
    return 100.0 * np.where(below > 0, a[np.maximum(below - 1, 0)], 0.0) / a[-1]


def draw_distribution(report: Any, *, title_suffix: str = "") -> Figure:
    """The thickness-distribution figure of a CT comparison ``Report``."""
    doc = report.document
    min_cover = float(doc["min_cover_mm"])
    healthy_side = "left" if doc["affected_side"] == "right" else "right"
    sides = ((f"affected ({doc['affected_side']})", report.affected, COLOURS["affected"], "solid"),
             (f"healthy ({healthy_side}, mirrored)", report.healthy, COLOURS["healthy"], "dashed"))
    t_max = float(np.ceil(max(np.percentile(c.thickness_mm, 99.5) for _, c, _, _ in sides)))
    xs = np.linspace(0.0, t_max, 400)

    fig = new_figure(14.0, 5.6)
    ax_c, ax_h, ax_t = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.25]})
    bins = np.arange(0.0, t_max + BIN_MM, BIN_MM)
    exposed_txt: list[str] = []
    for label, cov, colour, ls in sides:
        t, a = cov.thickness_mm, cov.surface.areas_mm2
        cum = cumulative_area_percent(t, a, xs)
        ax_c.plot(xs, cum, color=colour, lw=2.4, ls=ls, label=label)
        at = cumulative_area_percent(t, a, np.array([min_cover]))[0]
        ax_c.plot([min_cover], [at], "o", color=colour, ms=7, mec="k", mew=0.6)
        exposed_txt.append(f"{label}: {at:.1f} % ({float(a[t < min_cover].sum()):.1f} mm²)")
        hist, _ = np.histogram(np.clip(t, 0, t_max), bins=bins, weights=a)
        ax_h.stairs(hist / BIN_MM, bins, color=colour, lw=2.2, ls=ls, label=label)
    for ax in (ax_c, ax_h):
        ax.axvline(min_cover, color=COLOURS["exposed"], lw=2, ls=":")
        ax.axvspan(0, min_cover, color=COLOURS["exposed"], alpha=0.10, lw=0)
        ax.set_xlim(0, t_max)
        ax.set_xlabel("soft-tissue thickness (mm)")
        ax.grid(alpha=0.3)
    ax_c.text(min_cover, 101, f" exposed < {min_cover:g} mm", color=COLOURS["exposed"], fontsize=9.5,
              va="bottom", fontweight="bold")
    ax_c.text(0.03, 0.97, f"exposed (cover < {min_cover:g} mm):\n" + "\n".join(exposed_txt),
              transform=ax_c.transAxes, va="top", ha="left", fontsize=10,
              bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.6"})
    ax_c.set_ylim(0, 100)
    ax_c.set_ylabel("bone-surface area with less cover (%)")
    ax_c.set_title("Cumulative: area covered by less than x", pad=18)
    ax_c.legend(loc="lower right")
    ax_h.set_ylim(bottom=0)
    ax_h.set_ylabel("bone-surface area per mm of thickness (mm²/mm)")
    ax_h.set_title("Histogram (area-weighted)", pad=18)

    ax_t.axis("off")
    rows = []
    for r in REGIONS:
        a_r, h_r = doc["affected"]["regions"].get(r, {}), doc["healthy"]["regions"].get(r, {})
        rows.append([r, format_value("exposed_area_mm2", a_r.get("exposed_area_mm2"), unit=False),
                     format_value("exposed_area_mm2", h_r.get("exposed_area_mm2"), unit=False),
                     format_value("mean_mm", (a_r.get("thickness_mm") or {}).get("mean"), unit=False),
                     format_value("mean_mm", (h_r.get("thickness_mm") or {}).get("mean"), unit=False)])
    table = ax_t.table(cellText=rows, colLabels=["region", "exposed\naffected\n(mm²)", "exposed\nhealthy\n(mm²)",
                                                  "mean\ncover,\naffected\n(mm)", "mean\ncover,\nhealthy\n(mm)"],
                       loc="center", cellLoc="center", colWidths=[0.2] * 5)
    table.auto_set_font_size(False)
    table.set_fontsize(10.5)
    table.scale(1.0, 2.1)
    for (row, col), cell in table.get_celld().items():
        if row == 0:
            cell.set_height(cell.get_height() * 2.4)
            cell.set_facecolor("#EEEEEE")
            cell.set_text_props(fontweight="bold")
        elif col == 1 and rows[row - 1][1] not in ("0.0", "—"):
            cell.set_facecolor("#FBD3F4")  # exposed bone in this region
    ax_t.set_title("Regions (hallux frame; tip = distal 6 mm)", pad=18)
    fig.suptitle(f"Distribution of soft-tissue cover over the hallux bone surface{title_suffix}")
    return fig
