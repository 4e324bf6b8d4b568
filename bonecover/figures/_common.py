"""What the figure modules share: style, colours, geometry-aware sampling, PNG encoding.

Every image drawn is sampled in patient coordinates (LPS, mm) through the volumes'
affines, so pixels keep their geometry; the healthy foot is brought into the affected
foot's frame by sampling it at ``inverse(transform) @ p`` for each affected point ``p``
(the report's transforms map healthy points to affected points).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
import SimpleITK as sitk
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from scipy import ndimage

from bonecover.volume import Volume

#: Resolution of every figure, dots per inch (issue 5: at least 150).
DPI = 150

#: Okabe-Ito colours (safe for the common colour-vision deficiencies).
OKABE_ITO = {
    "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
    "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000",
}
#: Roles of the overlay colours, the same in every figure.
COLOURS = {
    "affected": OKABE_ITO["orange"],
    "healthy": OKABE_ITO["sky"],
    "bone": OKABE_ITO["yellow"],
    "skin": OKABE_ITO["green"],
    "exposed": "#FF2BD6",  # magenta: outside both the CT grey scale and the thickness map
}
#: Thickness colour map (perceptually uniform, colour-blind safe) and deficit map (diverging).
THICKNESS_CMAP = "viridis"
DEFICIT_CMAP = "PuOr_r"
#: Grey-scale window that shows bone, soft tissue, fat and air together, HU.
CT_WINDOW_HU = (-450.0, 1050.0)
#: Bone MIP window, HU.
MIP_WINDOW_HU = (-200.0, 1600.0)

STYLE: dict[str, Any] = {
    "font.size": 10.5, "axes.titlesize": 11.5, "axes.labelsize": 10.5, "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5, "legend.fontsize": 9.5, "figure.titlesize": 13.5, "font.family": "DejaVu Sans",
    "axes.titleweight": "bold", "savefig.facecolor": "white",
}


@contextmanager
def style() -> Iterator[None]:
    """The house figure style, restored on exit (no global state left behind)."""
    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]
        yield


def new_figure(width_in: float, height_in: float) -> Figure:
    """A figure not registered with pyplot (no global state), constrained layout."""
    return Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")


def png_bytes(fig: Figure) -> bytes:
    """The figure as an RGB PNG at :data:`DPI` (recorded in the pHYs chunk).

    Drawn once on an Agg canvas and encoded by Pillow without the alpha channel: a
    quarter less to compress than ``savefig``'s RGBA, same pixels on a white page.
    """
    fig.set_dpi(DPI)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba[..., :3])).save(buf, format="png", dpi=(DPI, DPI), compress_level=3,
                                                              pnginfo=_PNG_INFO)
    return buf.getvalue()


_PNG_INFO = PngInfo()
_PNG_INFO.add_text("Software", "bonecover")


def invert(transform: np.ndarray) -> np.ndarray:
    """Inverse of a 4x4 rigid (or reflected rigid) transform."""
    return np.linalg.inv(np.asarray(transform, float))


@dataclass(frozen=True)
class Grid:
    """An LPS-aligned sampling grid: voxel (i, j, k) sits at ``origin + spacing * (i, j, k)``.

    Its arrays are indexed [z, y, x] (k, j, i): axial images are ``[y, x]`` with
    anterior at the top and patient left on the right (radiological convention).
    """

    origin_mm: np.ndarray
    spacing_mm: float
    size_ijk: tuple[int, int, int]

    @classmethod
    def around(cls, lo_mm: np.ndarray, hi_mm: np.ndarray, spacing_mm: float, margin_mm: float = 0.0) -> Grid:
        lo = np.asarray(lo_mm, float) - margin_mm
        hi = np.asarray(hi_mm, float) + margin_mm
        size = tuple(int(v) for v in np.ceil((hi - lo) / spacing_mm).astype(int) + 1)
        return cls(lo, float(spacing_mm), size)  # type: ignore[arg-type]

    def extent(self, axis_u: int, axis_v: int) -> tuple[float, float, float, float]:
        """imshow extent (left, right, bottom, top) in mm for an image indexed [v, u]."""
        lo = self.origin_mm
        s = self.spacing_mm
        nu, nv = self.size_ijk[axis_u], self.size_ijk[axis_v]
        return (lo[axis_u] - s / 2, lo[axis_u] + (nu - 0.5) * s, lo[axis_v] + (nv - 0.5) * s, lo[axis_v] - s / 2)


def _sitk_transform(healthy_to_affected: np.ndarray | None) -> sitk.Transform:
    if healthy_to_affected is None:
        return sitk.Transform(3, sitk.sitkIdentity)
    inv = invert(healthy_to_affected)  # sitk maps output (affected) points to input (healthy) points
    t = sitk.AffineTransform(3)
    t.SetMatrix(tuple(float(v) for v in inv[:3, :3].reshape(-1)))
    t.SetTranslation(tuple(float(v) for v in inv[:3, 3]))
    return t


def resample_to_grid(volume: Volume, grid: Grid, *, transform: np.ndarray | None = None,
                     nearest: bool = False, default: float = -1024.0) -> np.ndarray:
    """Sample ``volume`` on ``grid`` (array [z, y, x]).

    Parameters
    ----------
    volume : image or mask with its LPS affine.
    grid : target grid in the (affected) frame.
    transform : (4, 4) mapping the volume's patient points to the grid's frame
        (healthy -> affected); identity when None.
    nearest : nearest-neighbour interpolation (masks) instead of linear.
    default : value outside the volume.
    """
    arr = np.asarray(volume.array)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    image = volume.with_array(arr).to_sitk()
    out = sitk.Resample(image, [int(v) for v in grid.size_ijk], _sitk_transform(transform),
                        sitk.sitkNearestNeighbor if nearest else sitk.sitkLinear,
                        tuple(float(v) for v in grid.origin_mm), (grid.spacing_mm,) * 3,
                        (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0), float(default),
                        image.GetPixelID() if nearest else sitk.sitkFloat32)
    return sitk.GetArrayFromImage(out)


def sample_points(volume: Volume, points_mm: np.ndarray, *, transform: np.ndarray | None = None,
                  order: int = 1, default: float = -1024.0) -> np.ndarray:
    """Values of ``volume`` at (..., 3) points given in the affected frame (LPS mm).

    ``transform`` maps the volume's own patient points to that frame (healthy ->
    affected); the points are carried back through its inverse.
    """
    pts = np.asarray(points_mm, float)
    flat = pts.reshape(-1, 3)
    if transform is not None:
        inv = invert(transform)
        flat = flat @ inv[:3, :3].T + inv[:3, 3]
    ijk = volume.world_to_index(flat)
    arr = np.asarray(volume.array)
    if arr.dtype == bool:
        arr = arr.astype(np.float32)
    vals = ndimage.map_coordinates(arr, [ijk[:, 2], ijk[:, 1], ijk[:, 0]], order=order, cval=default,
                                   prefilter=False)
    return vals.reshape(pts.shape[:-1])


def scale_bar(ax, length_mm: float, *, colour: str = "white", where: str = "lower right") -> None:  # noqa: ANN001
    """A ``length_mm`` bar in data units (axes in mm), labelled, in a corner of the axes."""
    x0, x1 = sorted(ax.get_xlim())
    y_lo, y_hi = sorted(ax.get_ylim())
    pad_x, pad_y = 0.05 * (x1 - x0), 0.07 * (y_hi - y_lo)
    xs = (x1 - pad_x - length_mm, x1 - pad_x) if where.endswith("right") else (x0 + pad_x, x0 + pad_x + length_mm)
    inverted = ax.yaxis_inverted()
    lower = where.startswith("lower")
    y = (y_hi - pad_y if inverted else y_lo + pad_y) if lower else (y_lo + pad_y if inverted else y_hi - pad_y)
    ax.plot(xs, (y, y), color=colour, lw=3.5, solid_capstyle="butt")
    ax.text(sum(xs) / 2, y, f"{length_mm:g} mm\n", color=colour, ha="center", va="center", fontsize=9.5,
            fontweight="bold")


def edge_labels(ax, left: str, right: str, top: str, bottom: str, *, colour: str = "white") -> None:  # noqa: ANN001
    """Orientation labels at the middle of each edge of an image axes."""
    kw = {"transform": ax.transAxes, "color": colour, "fontsize": 10, "fontweight": "bold",
          "bbox": {"boxstyle": "round,pad=0.15", "facecolor": "black", "alpha": 0.55, "linewidth": 0}}
    ax.text(0.015, 0.5, left, ha="left", va="center", rotation=90, **kw)
    ax.text(0.985, 0.5, right, ha="right", va="center", rotation=90, **kw)
    ax.text(0.5, 0.985, top, ha="center", va="top", **kw)
    ax.text(0.5, 0.015, bottom, ha="center", va="bottom", **kw)


def patient_direction_letter(vector: np.ndarray) -> str:
    """The LPS letter(s) a direction points to, strongest first (e.g. ``A`` or ``AI``)."""
    v = np.asarray(vector, float)
    letters = (("L", "R"), ("P", "A"), ("S", "I"))
    order = np.argsort(-np.abs(v))
    out = [letters[a][0 if v[a] > 0 else 1] for a in order if abs(v[a]) > 0.38]
    return "".join(out) or letters[order[0]][0 if v[order[0]] > 0 else 1]
