"""Render the phantom preview shown in the README (docs/phantom_preview.png).

Usage: python docs/make_phantom_preview.py PHANTOM_DIR OUT.png
Reads the phantom's DICOM series with SimpleITK and its truth.json, and shows an
axial maximum-intensity projection of both feet, one axial slice, and oblique
sagittal slices through each hallux (affected with its wound, healthy), with
orientation labels and a scale bar in mm. Radiological convention: patient
right on the image left.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import SimpleITK as sitk
from scipy import ndimage


def load(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def oblique(img: sitk.Image, arr: np.ndarray, centre, u_axis, v_axis, half_u, half_v, step=0.2):
    """Sample a plane through ``centre`` spanned by unit vectors u (columns) and v (rows)."""
    us = np.arange(-half_u, half_u + step, step)
    vs = np.arange(-half_v, half_v + step, step)
    U, V = np.meshgrid(us, vs)
    pts = np.asarray(centre)[None, None] + U[..., None] * np.asarray(u_axis) + V[..., None] * np.asarray(v_axis)
    origin = np.array(img.GetOrigin())
    d = np.array(img.GetDirection()).reshape(3, 3) * np.array(img.GetSpacing())[None, :]
    ijk = (pts.reshape(-1, 3) - origin) @ np.linalg.inv(d).T
    vals = ndimage.map_coordinates(arr, [ijk[:, 2], ijk[:, 1], ijk[:, 0]], order=1, cval=-1000.0)
    return vals.reshape(U.shape), us, vs


def scale_bar(ax, length_mm, x0, y0, to_px=1.0, color="w"):
    ax.plot([x0, x0 + length_mm * to_px], [y0, y0], color=color, lw=3)
    ax.text(x0 + length_mm * to_px / 2, y0 - 2 * to_px, f"{length_mm:g} mm", color=color, ha="center", va="bottom", fontsize=9)


def main(phantom_dir: Path, out_png: Path) -> None:
    truth = json.loads((phantom_dir / "truth.json").read_text())
    img = load(phantom_dir / "ct")
    arr = sitk.GetArrayFromImage(img).astype(np.float32)
    sp = img.GetSpacing()
    fig = plt.figure(figsize=(13, 8.5), dpi=110)
    gs = fig.add_gridspec(2, 3, height_ratios=[1.15, 1])
    # axial MIP: array [k, j, i], i runs to patient right (-x) for this FFS series; flip so
    # patient right is on the image left (radiological convention)
    ax = fig.add_subplot(gs[0, :2])
    mip = arr.max(axis=0)[:, ::-1]
    ax.imshow(mip, cmap="gray", vmin=-200, vmax=1600, extent=(0, mip.shape[1] * sp[0], mip.shape[0] * sp[1], 0))
    ax.set_title("Axial MIP, both feet (window -200..1600 HU)")
    ax.set_xlabel("mm"), ax.set_ylabel("mm")
    ax.text(0.01, 0.5, "R", transform=ax.transAxes, color="yellow", fontsize=14, weight="bold")
    ax.text(0.975, 0.5, "L", transform=ax.transAxes, color="yellow", fontsize=14, weight="bold")
    ax.text(0.5, 0.02, "anterior (toes) up, posterior down", transform=ax.transAxes, color="yellow", ha="center", fontsize=9)
    ax.text(0.5, 0.93, f"affected: {truth['affected_side']}", transform=ax.transAxes, color="orange", ha="center")
    # one axial slice through the affected hallux
    ax = fig.add_subplot(gs[0, 2])
    tip = np.array(truth["landmarks"]["affected"]["interphalangeal_joint_centre"])
    k = int(round(img.TransformPhysicalPointToContinuousIndex(tuple(tip))[2]))
    sl = arr[k][:, ::-1]
    ax.imshow(sl, cmap="gray", vmin=-300, vmax=1300, extent=(0, sl.shape[1] * sp[0], sl.shape[0] * sp[1], 0))
    ax.set_title(f"Axial slice {k} (-300..1300 HU)")
    ax.set_xlabel("mm")
    ax.text(0.02, 0.5, "R", transform=ax.transAxes, color="yellow", fontsize=12, weight="bold")
    ax.text(0.94, 0.5, "L", transform=ax.transAxes, color="yellow", fontsize=12, weight="bold")
    for col, side in enumerate(("affected", "healthy")):
        frame = truth[side]["hallux_frame"]
        base, tipp = np.array(frame["base_mm"]), np.array(frame["tip_mm"])
        axis = (tipp - base) / np.linalg.norm(tipp - base)
        centre = base + axis * (np.linalg.norm(tipp - base) / 2 + 4)
        up, up_label, down_label = np.array(frame["dorsal"]), "dorsal", "plantar"
        defect = truth["phantom"]["feet"][truth["affected_side"]].get("defect")
        if side == "affected" and defect is not None:
            n = np.array(defect["direction"])
            n_perp = n - (n @ axis) * axis
            if np.linalg.norm(n_perp) > 0.3:  # a wound on the side of the toe: cut through it
                up, up_label, down_label = n_perp / np.linalg.norm(n_perp), "wound side", "opposite"
        plane, us, vs = oblique(img, arr, centre, axis, -up, 40, 18)
        ax = fig.add_subplot(gs[1, col])
        ax.imshow(plane, cmap="gray", vmin=-300, vmax=1300, extent=(us[0], us[-1], vs[-1], vs[0]))
        m = truth[side]
        ax.set_title(f"{side} hallux, long-axis slice\ncovered {m['covered_fraction']:.3f}, "
                     f"exposed {m['exposed_area_mm2']:.0f} mm², mean cover {m['thickness_mm']['mean']:.1f} mm", fontsize=10)
        ax.set_xlabel("mm along the hallux axis (proximal → distal)")
        ax.text(0.02, 0.9, up_label, transform=ax.transAxes, color="yellow")
        ax.text(0.02, 0.05, down_label, transform=ax.transAxes, color="yellow")
        scale_bar(ax, 10, us[-1] - 14, vs[-1] - 3)
    ax = fig.add_subplot(gs[1, 2])
    ax.axis("off")
    p = truth["phantom"]
    ax.text(0, 0.95, "\n".join([
        "bonecover synthetic phantom",
        f"seed {p['seed']}, defect '{p['defect']}', size '{p['size']}'",
        f"voxel {sp[0]:.2f} x {sp[1]:.2f} x {sp[2]:.2f} mm, {img.GetSize()[0]}x{img.GetSize()[1]}x{img.GetSize()[2]}",
        f"noise {p['imaging']['noise_hu']:.0f} HU, PSF sigma {p['imaging']['psf_sigma_mm']:.2f} mm",
        f"foot rest: {'yes' if p['foot_rest'] else 'no'}",
        "", "Truth (from geometry):",
        f"coverage ratio {truth['comparison']['coverage_ratio']:.3f}",
        f"soft-tissue deficit {truth['comparison']['soft_tissue_deficit_ml']:.2f} mL",
        f"thickness deficit mean {truth['comparison']['thickness_deficit_mm']['mean']:.2f} mm",
    ]), va="top", fontsize=10, family="monospace")
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
