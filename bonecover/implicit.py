"""Implicit shapes (signed distance functions) the synthetic foot is built from.

Each primitive returns, for points ``p`` of shape (N, 3) in its own frame (mm), an
exact or near-exact signed distance in mm: negative inside, positive outside, unit
gradient near the surface. Rendering turns these into partial-volume fractions;
the ground truth meshes their zero level set. Both evaluate the *same* functions,
so the truth is a property of the geometry, never of the rendered image.

References: I. Quilez, "distance functions" (round cone, ellipsoid bound, rounded
box, polynomial smooth minimum).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = [
    "Ellipsoid",
    "Primitive",
    "RoundCone",
    "RoundedBox",
    "Sphere",
    "apply_affine",
    "smooth_min",
]


def apply_affine(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 homogeneous transform to (N, 3) points."""
    return points @ affine[:3, :3].T + affine[:3, 3]


def smooth_min(a: np.ndarray, b: np.ndarray, k_mm: float) -> np.ndarray:
    """Polynomial smooth minimum: union of two shapes with a fillet of about ``k_mm``.

    Equals ``min(a, b)`` wherever ``|a - b| >= k_mm``.
    """
    if k_mm <= 0:
        return np.minimum(a, b)
    h = np.clip(0.5 + 0.5 * (b - a) / k_mm, 0.0, 1.0)
    return b + (a - b) * h - k_mm * h * (1.0 - h)


class Primitive(Protocol):
    """A shape in its own frame: a signed distance and a bounding box (mm)."""

    def sdf(self, p: np.ndarray) -> np.ndarray: ...

    def bbox(self) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class RoundCone:
    """Union of spheres swept from centre ``a`` (radius ``ra``) to ``b`` (radius ``rb``).

    A capsule whose radius changes linearly: the shaft of a long bone or a toe.
    Exact signed distance.
    """

    a: tuple[float, float, float]
    b: tuple[float, float, float]
    ra: float
    rb: float

    def sdf(self, p: np.ndarray) -> np.ndarray:
        a = np.asarray(self.a, float)
        ba = np.asarray(self.b, float) - a
        l2 = float(ba @ ba)
        rr = self.ra - self.rb
        a2 = l2 - rr * rr
        il2 = 1.0 / l2
        pa = p - a
        y = pa @ ba
        z = y - l2
        x2 = np.einsum("ij,ij->i", pa * l2 - y[:, None] * ba, pa * l2 - y[:, None] * ba)
        y2 = y * y * l2
        z2 = z * z * l2
        k = np.sign(rr) * rr * rr * x2
        d_b = np.sqrt(x2 + z2) * il2 - self.rb
        d_a = np.sqrt(x2 + y2) * il2 - self.ra
        d_side = (np.sqrt(np.maximum(x2 * a2 * il2, 0.0)) + y * rr) * il2 - self.ra
        return np.where(np.sign(z) * a2 * z2 > k, d_b, np.where(np.sign(y) * a2 * y2 < k, d_a, d_side))

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        a, b = np.asarray(self.a, float), np.asarray(self.b, float)
        return np.minimum(a - self.ra, b - self.rb), np.maximum(a + self.ra, b + self.rb)


@dataclass(frozen=True)
class Sphere:
    """A ball of ``radius`` mm at ``centre``. Exact signed distance."""

    centre: tuple[float, float, float]
    radius: float

    def sdf(self, p: np.ndarray) -> np.ndarray:
        q = p - np.asarray(self.centre, float)
        return np.sqrt(np.einsum("ij,ij->i", q, q)) - self.radius

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        c = np.asarray(self.centre, float)
        return c - self.radius, c + self.radius


@dataclass(frozen=True)
class Ellipsoid:
    """Axis-aligned ellipsoid with semi-axes ``radii`` (mm) at ``centre``.

    Uses the first-order distance bound k0 (k0 - 1) / k1, accurate near the surface
    (the only place rendering and truth depend on it).
    """

    centre: tuple[float, float, float]
    radii: tuple[float, float, float]

    def sdf(self, p: np.ndarray) -> np.ndarray:
        r = np.asarray(self.radii, float)
        q = p - np.asarray(self.centre, float)
        qr = q / r
        qrr = qr / r
        k0 = np.sqrt(np.einsum("ij,ij->i", qr, qr))
        k1 = np.sqrt(np.einsum("ij,ij->i", qrr, qrr))
        safe_k1 = np.where(k1 > 1e-12, k1, 1.0)
        return np.where(k1 > 1e-12, k0 * (k0 - 1.0) / safe_k1, -float(r.min()))

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        c, r = np.asarray(self.centre, float), np.asarray(self.radii, float)
        return c - r, c + r


@dataclass(frozen=True)
class RoundedBox:
    """Axis-aligned box of half-sizes ``half`` (mm) with edges rounded by ``radius``."""

    centre: tuple[float, float, float]
    half: tuple[float, float, float]
    radius: float = 0.0

    def sdf(self, p: np.ndarray) -> np.ndarray:
        q = np.abs(p - np.asarray(self.centre, float)) - np.asarray(self.half, float) + self.radius
        qp = np.maximum(q, 0.0)
        outside = np.sqrt(np.einsum("ij,ij->i", qp, qp))
        inside = np.minimum(q.max(axis=1), 0.0)
        return outside + inside - self.radius

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        c, h = np.asarray(self.centre, float), np.asarray(self.half, float)
        return c - h, c + h
