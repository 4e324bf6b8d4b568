"""Stages 1 and 3 (2-D): the feet of a radiograph, their axes, and the hallux phalanges.

Each foot's frame comes from its silhouette: the long axis is the principal axis
of the foot's pixels, pointing away from where the foot leaves the exposed field
(a DP view is collimated across the midfoot or heel, the toes are free), or up
the image when it does not touch the field's edge. Medial is across the long axis,
towards the image's right for a right foot and its left for a left foot (DP
radiographs are displayed with the patient's right on the viewer's left).

The distal phalanx of the hallux is the bone (over 40 mm^2) reaching furthest distally
and medially (largest distal + 0.7 x medial coordinate); the proximal phalanx is the
bone just proximal of it. A phalanx joined to the first metatarsal in the
projection (the MTP joint space not visible) is cut at its narrowest point 15-45 mm
proximal of the distal phalanx. ``hallux_point`` (plane mm, inside the distal
phalanx) overrides the search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from bonecover.errors import InputError
from bonecover.radiograph.image import Image2D
from bonecover.radiograph.segment import Segmentation

__all__ = ["Foot2D", "Hallux2D", "feet_of", "locate_hallux_2d"]

#: Smallest projected area of a distal phalanx candidate, mm^2 (an adult's is 150-250).
_MIN_PHALANX_MM2 = 40.0


@dataclass(frozen=True, eq=False)
class Foot2D:
    """One foot of a radiograph: its mask, side and axes (plane mm).

    ``distal`` and ``medial`` are unit (2,) vectors in plane (x, y); ``centre_mm``
    the centroid of the foot's pixels; ``how`` says where the side came from.
    """

    label: int
    mask: np.ndarray
    side: str
    distal: np.ndarray
    medial: np.ndarray
    centre_mm: np.ndarray
    how: str


@dataclass(frozen=True, eq=False)
class Hallux2D:
    """The hallux phalanges of one foot: masks and how they were found."""

    mask: np.ndarray
    distal_phalanx: np.ndarray
    proximal_phalanx: np.ndarray
    tuft: np.ndarray  # distal 35 % of the distal phalanx (left out of the local registration)
    method: str


def _coords(image: Image2D, mask: np.ndarray) -> np.ndarray:
    return image.index_to_plane(np.argwhere(mask).astype(float))


def feet_of(seg: Segmentation, *, laterality: str, affected_side: str | None, source: str) -> list[Foot2D]:
    """The feet of one radiograph with their sides and axes.

    Parameters
    ----------
    laterality : ImageLaterality (``L``, ``R``, ``B`` or '').
    affected_side : the user's ``--affected-side`` (used for a one-foot image without laterality).
    source : the input's name, for messages.
    """
    image = seg.smooth
    n = seg.n_feet
    if n > 2:
        # keep the two largest: a third large object is not a foot of this patient
        areas = ndimage.sum_labels(np.ones_like(seg.feet), seg.feet, np.arange(1, n + 1))
        order = np.argsort(areas)[::-1][:2] + 1
    else:
        order = np.arange(1, n + 1)
    centres = {int(lb): _coords(image, seg.feet == lb).mean(axis=0) for lb in order}
    sides: dict[int, tuple[str, str]] = {}
    if len(order) == 2:
        left_first = sorted(order, key=lambda lb: centres[int(lb)][0])
        # standard DP display: the patient's right foot on the viewer's left
        sides[int(left_first[0])] = ("right", "image position (patient right on the image left)")
        sides[int(left_first[1])] = ("left", "image position (patient right on the image left)")
    else:
        lb = int(order[0])
        if laterality in ("L", "R"):
            sides[lb] = ("left" if laterality == "L" else "right", "ImageLaterality")
        elif affected_side is not None:
            sides[lb] = (affected_side, "--affected-side")
        else:
            raise InputError(f"{source}: one foot and no ImageLaterality/Laterality; say which foot it is "
                             "with --affected-side (and give the other foot as the second input)")
    field_edge = ndimage.binary_dilation(~seg.field, iterations=4)
    feet = []
    for lb in order:
        lb = int(lb)
        mask = seg.feet == lb
        xy = _coords(image, mask)
        centre = xy.mean(axis=0)
        cov = np.cov((xy - centre).T)
        w, v = np.linalg.eigh(cov)
        axis = v[:, np.argmax(w)]
        contact = mask & field_edge
        if contact.sum() > 20:
            away = centre - _coords(image, contact).mean(axis=0)
            distal = axis if axis @ away > 0 else -axis
        else:
            distal = axis if axis[1] < 0 else -axis
        side, how = sides[lb]
        perp = np.array([-distal[1], distal[0]])
        medial = perp if (perp[0] > 0) == (side == "right") else -perp
        feet.append(Foot2D(lb, mask, side, distal, medial, centre, how))
    return feet


def _cut_at_neck(comp: np.ndarray, d: np.ndarray, dp_prox: float, step: float) -> np.ndarray:
    """Keep the part of a phalanx+metatarsal component distal to its narrowest point."""
    lo, hi = dp_prox - 45.0, dp_prox - 15.0
    sel = (d >= lo) & (d <= hi)
    if sel.sum() < 10:
        return comp
    bins = np.arange(lo, hi + step, step)
    counts, _ = np.histogram(d[sel], bins)
    cut = bins[int(np.argmin(counts))] + step / 2
    return d > cut


def locate_hallux_2d(seg: Segmentation, foot: Foot2D, *, hallux_point_mm: np.ndarray | None = None,
                     source: str = "") -> Hallux2D:
    """Masks of the hallux phalanges of ``foot``.

    Raises
    ------
    InputError
        No bone in the foot, or ``hallux_point_mm`` not on a bone.
    """
    image = seg.smooth
    bone = seg.bone & foot.mask
    labels, n = ndimage.label(bone)
    if n == 0:
        raise InputError(f"{source}: no bone found in the {foot.side} foot; is this a foot radiograph?")
    idx = np.argwhere(labels > 0)
    xy = image.index_to_plane(idx.astype(float)) - foot.centre_mm
    d, m = xy @ foot.distal, xy @ foot.medial
    lab = labels[idx[:, 0], idx[:, 1]]
    if hallux_point_mm is not None:
        rc = np.rint(image.plane_to_index(np.asarray(hallux_point_mm, float)[None])[0]).astype(int)
        dist = np.hypot(*(idx - rc).T) * float(np.mean(image.spacing_mm))
        if dist.min() > 5.0:
            raise InputError(f"--hallux-point {tuple(hallux_point_mm)} is {dist.min():.1f} mm from the nearest bone "
                             f"of the {foot.side} foot; give a point inside the distal phalanx")
        dp_label = int(lab[np.argmin(dist)])
        method = "hallux point given"
    else:
        score = d + 0.7 * m
        best = np.asarray(ndimage.maximum(score, lab, np.arange(1, n + 1)), float)
        # a distal phalanx is over 40 mm^2 in projection: small bright spots (a soft-tissue
        # ridge beside a scar, a sesamoid, noise) cannot be it
        areas = np.bincount(lab, minlength=n + 1)[1:] * image.pixel_area_mm2
        best[areas < _MIN_PHALANX_MM2] = -np.inf
        if not np.isfinite(best).any():
            raise InputError(f"{source}: no bone of a phalanx's size in the {foot.side} foot; is this a foot "
                             "radiograph? (--hallux-point X,Y names the distal phalanx)")
        dp_label = int(np.argmax(best)) + 1
        method = "automatic: most distal-medial bone and the bone proximal to it"
    dp = lab == dp_label
    d_dp = d[dp]
    extent = float(np.ptp(d_dp))
    step = float(np.mean(image.spacing_mm))
    pp = np.zeros(len(lab), bool)
    if extent < 40.0:  # a distal phalanx alone (the IP joint visible)
        prox_pt = np.array([d_dp.min(), float(np.median(m[dp][d_dp < d_dp.min() + 3.0]))])
        others = ~dp
        gap = np.hypot(d[others] - prox_pt[0], m[others] - prox_pt[1])
        if others.any() and gap.min() < 8.0:
            pp_label = int(lab[others][np.argmin(gap)])
            pp = lab == pp_label
            if np.ptp(d[pp]) > 45.0:  # joined to the first metatarsal in the projection
                keep = _cut_at_neck(pp, d[pp], float(d_dp.min()), step)
                sub = np.zeros_like(pp)
                sub[np.nonzero(pp)[0][keep]] = True
                pp = sub
                method += "; proximal phalanx cut from the first metatarsal at its neck"
    else:
        method += "; phalanges joined across the IP joint"
        if extent > 80.0:
            keep = _cut_at_neck(dp, d_dp, float(d_dp.max()) - 25.0, step)
            sub = np.zeros_like(dp)
            sub[np.nonzero(dp)[0][keep]] = True
            dp = sub
    def to_mask(sel: np.ndarray) -> np.ndarray:
        out = np.zeros(seg.bone.shape, bool)
        out[idx[sel, 0], idx[sel, 1]] = True
        return out

    dmax, dmin = float(d[dp].max()), float(d[dp].min())
    tuft = dp & (d > dmax - 0.35 * (dmax - dmin))
    return Hallux2D(to_mask(dp | pp), to_mask(dp), to_mask(pp), to_mask(tuft), method)
