"""Dressings on the skin are outside (SPEC): gauze by its density, a dense wrap by
where it lies (outside the soft tissue), while bone bared by a wound stays bone."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from bonecover.feet import FootCrop
from bonecover.segment import segment_foot
from bonecover.volume import Volume

VOXEL_MM = 0.5
SOFT_HU, CORTEX_HU, MARROW_HU, AIR_HU = 40.0, 1300.0, 250.0, -1000.0
TOE_RADIUS_MM, BONE_RADIUS_MM, CORTEX_MM = 9.0, 4.0, 1.0


def _toe(wrap_hu: float | None = None, wrap_mm: tuple[float, float] = (9.2, 10.0), bared: bool = False,
         seed: int = 0) -> tuple[FootCrop, dict[str, np.ndarray]]:
    """A toe-like cylinder along x: soft tissue around a bone (cortex + marrow), optionally
    wrapped (between radii ``wrap_mm`` over its middle) or with a wound baring the bone."""
    shape = (100, 100, 150)  # k (z), j (y), i (x)
    k, j, i = np.indices(shape, dtype=np.float32)
    z, y, x = (k - 49.5) * VOXEL_MM, (j - 49.5) * VOXEL_MM, (i - 74.5) * VOXEL_MM
    r = np.hypot(y, z)
    along = np.abs(x) < 30.0
    toe = (r < TOE_RADIUS_MM) & along
    bone = (r < BONE_RADIUS_MM) & (np.abs(x) < 22.0)
    marrow = (r < BONE_RADIUS_MM - CORTEX_MM) & (np.abs(x) < 22.0 - CORTEX_MM)
    if bared:  # a crater on the dorsal side (+z), 10 mm across, cutting into the bone
        crater = (z > BONE_RADIUS_MM - 1.5) & (np.abs(x) < 5.0) & (np.abs(y) < 5.0)
        toe &= ~crater
        bone &= ~crater
        marrow &= ~crater
    hu = np.full(shape, AIR_HU, np.float32)
    hu[toe] = SOFT_HU
    hu[bone] = CORTEX_HU
    hu[marrow] = MARROW_HU
    wrap = np.zeros(shape, bool)
    if wrap_hu is not None:
        wrap = (r >= wrap_mm[0]) & (r < wrap_mm[1]) & (np.abs(x) < 20.0)
        hu[wrap] = wrap_hu
    hu = ndimage.gaussian_filter(hu, 0.4 / VOXEL_MM)
    hu += np.random.default_rng(seed).normal(0.0, 10.0, shape).astype(np.float32)
    affine = np.diag([VOXEL_MM, VOXEL_MM, VOXEL_MM, 1.0])
    ct = Volume(hu, affine)
    crop = FootCrop("right", ct, ct.with_array(hu > -250.0), "test")
    return crop, {"toe": toe, "bone": bone, "wrap": wrap, "r": r, "x": x}


def _body_radius_mm(body: np.ndarray, truth: dict[str, np.ndarray]) -> float:
    """Mean outer radius of the body over the wrapped stretch (volume of a cylinder), mm."""
    stretch = np.abs(truth["x"]) < 15.0
    area_mm2 = body[stretch].sum() * VOXEL_MM ** 3 / (stretch[0, 0].sum() * VOXEL_MM)
    return float(np.sqrt(area_mm2 / np.pi))


def test_a_dense_wrap_on_the_skin_is_outside() -> None:
    crop, truth = _toe(wrap_hu=1500.0)
    tissues = segment_foot(crop)
    body = np.asarray(tissues.body.array, bool)
    wrap = truth["wrap"]
    assert np.asarray(tissues.outside_material.array, bool)[wrap].mean() > 0.5
    assert body[wrap].mean() < 0.05
    assert abs(_body_radius_mm(body, truth) - TOE_RADIUS_MM) < 0.3
    # the bone inside is untouched
    bone = np.asarray(tissues.bone.array, bool)
    assert (bone & truth["bone"]).sum() / truth["bone"].sum() > 0.95


def test_gauze_on_the_skin_is_outside() -> None:
    crop, truth = _toe(wrap_hu=-300.0, wrap_mm=(9.0, 12.0))
    body = np.asarray(segment_foot(crop).body.array, bool)
    assert body[truth["wrap"]].mean() < 0.1
    assert abs(_body_radius_mm(body, truth) - TOE_RADIUS_MM) < 0.3


def test_bone_bared_by_a_wound_stays_bone_and_body() -> None:
    crop, truth = _toe(bared=True)
    tissues = segment_foot(crop)
    assert not np.asarray(tissues.outside_material.array, bool).any()
    bone = np.asarray(tissues.bone.array, bool)
    body = np.asarray(tissues.body.array, bool)
    # the bone just under the cut face (1 mm deep) and the cortex beside it
    z_mm = (np.indices(bone.shape)[0] - 49.5) * VOXEL_MM
    bared = truth["bone"] & (z_mm > BONE_RADIUS_MM - 2.5) & (np.abs(truth["x"]) < 4.0)
    assert bared.sum() > 200
    assert (bone & body)[bared].mean() > 0.8
    # and the body's radius where nothing was done is the toe's
    assert abs(_body_radius_mm(body, truth) - TOE_RADIUS_MM) < 1.0
