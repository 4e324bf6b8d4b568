"""Stages 1-2 of the comparison: finding and cropping the feet, segmenting body and bone,
checked against the phantom's exact geometry."""

from __future__ import annotations

import numpy as np
import pytest

from bonecover.errors import InputError
from bonecover.feet import split_feet
from bonecover.segment import segment_foot
from bonecover.volume import Volume


@pytest.fixture(scope="module")
def study(phantom_bilateral):  # noqa: ANN001, ANN201
    return phantom_bilateral[0]


def test_split_finds_both_feet_on_their_sides_and_ignores_the_foot_rest(study) -> None:  # noqa: ANN001
    ct = study.series[0].volume
    crops = split_feet(ct)
    assert [c.side for c in crops] == ["right", "left"]
    for crop in crops:
        foot = study.feet[crop.side]
        # the crop holds the whole hallux and the first metatarsal head of that foot
        for name in ("hallux_tip", "metatarsal1_head_centre"):
            ijk = crop.ct.world_to_index(foot.landmarks_mm[name][None])[0]
            assert np.all(ijk >= 0) and np.all(ijk <= np.array(crop.ct.size_ijk) - 1), (crop.side, name)
        # the foot's tissue mask holds no foot-rest plate: nothing below the lowest sole point
        idx = np.argwhere(crop.tissue.array)
        z = crop.ct.index_to_world(idx[:, ::-1].astype(float))[:, 2]
        plate_top = study.truth["phantom"]["imaging"]["foot_rest"]["plate_top_z_mm"]
        assert z.min() > plate_top


def test_single_foot_needs_laterality(study) -> None:  # noqa: ANN001
    ct = study.series[0].volume
    right = split_feet(ct)[0]
    with pytest.raises(InputError, match="Laterality"):
        split_feet(right.ct.with_array(np.where(right.tissue.array, right.ct.array, -1000.0)))
    crops = split_feet(right.ct.with_array(np.where(right.tissue.array, right.ct.array, -1000.0)), laterality="R")
    assert [c.side for c in crops] == ["right"]


def test_no_foot_is_a_clear_input_error() -> None:
    air = Volume(np.full((20, 30, 30), -1000.0, np.float32), np.eye(4))
    with pytest.raises(InputError, match="no tissue"):
        split_feet(air, source="air.nii")
    plate = np.full((20, 30, 30), -1000.0, np.float32)
    plate[5:8] = 300.0  # a foot rest alone: tissue but no bone
    with pytest.raises(InputError, match="no foot found"):
        split_feet(Volume(plate, np.eye(4)), source="plate.nii")


def test_segmentation_agrees_with_the_true_geometry(study) -> None:  # noqa: ANN001
    for crop in split_feet(study.series[0].volume):
        tissues = segment_foot(crop)
        foot = study.feet[crop.side]
        body = np.asarray(tissues.body.array, bool)
        bone = np.asarray(tissues.bone.array, bool)
        assert not np.any(bone & ~body)
        idx = np.argwhere(np.ones(body.shape, bool))[::7]  # a regular subsample of the crop
        pts = tissues.ct.index_to_world(idx[:, ::-1].astype(float))
        true_body = foot.body_sdf(pts) < 0
        true_bone = foot.bone_sdf(pts) < 0
        seg_body = body[tuple(idx.T)]
        seg_bone = bone[tuple(idx.T)]
        dice_body = 2 * np.sum(seg_body & true_body) / (seg_body.sum() + true_body.sum())
        assert dice_body > 0.97, (crop.side, dice_body)
        # bones are solid: the marrow is inside the mask (recall), and little else is
        recall = np.sum(seg_bone & true_bone) / true_bone.sum()
        assert recall > 0.97, (crop.side, recall)
        dice_bone = 2 * np.sum(seg_bone & true_bone) / (seg_bone.sum() + true_bone.sum())
        assert dice_bone > 0.85, (crop.side, dice_bone)


def test_hallux_found_when_its_phalanges_appear_joined(study) -> None:  # noqa: ANN001
    """Bones that touch in the mask (1 mm voxels, bridged joints) must not hide the hallux: the joints
    are found in the CT values along the ray, not as gaps between objects."""
    from dataclasses import replace

    from scipy import ndimage

    from bonecover.hallux import locate_hallux

    crop = next(c for c in split_feet(study.series[0].volume) if c.side == "left")
    tissues = segment_foot(crop)
    normal = locate_hallux(tissues)
    assert normal.proximal_label != normal.distal_label
    tip = study.feet["left"].landmarks_mm["hallux_tip"]
    assert np.linalg.norm(normal.frame.tip_mm - tip) < 2.0
    hallux = np.isin(normal.labels, [normal.proximal_label, normal.distal_label])
    body = np.asarray(tissues.body.array, bool)
    # the whole first ray and its neighbours one object in the mask: the joints still show in the CT
    bridged = ndimage.binary_closing(np.asarray(tissues.bone.array, bool), iterations=4) & body
    merged = locate_hallux(replace(tissues, bone=tissues.bone.with_array(bridged)))
    assert merged.proximal_label != merged.distal_label
    assert np.linalg.norm(merged.frame.tip_mm - normal.frame.tip_mm) < 1.5
    overlap = np.sum(merged.mask.array & hallux) / hallux.sum()
    assert overlap > 0.9, overlap


def _pressed_together(ct: Volume, crops, overlap_mm: float) -> tuple[Volume, int]:  # noqa: ANN001
    """The scan with one foot slid across (along the index axis i) into the other until their
    tissues overlap by ``overlap_mm``: feet pressed together. Returns the volume and the shift (voxels)."""
    hu = np.asarray(ct.array, np.float32)
    masks = []
    for crop in crops:
        full = np.zeros(hu.shape, bool)
        o = np.round(ct.world_to_index(crop.ct.index_to_world(np.zeros((1, 3))))[0]).astype(int)
        m = np.asarray(crop.tissue.array, bool)
        full[o[2]:o[2] + m.shape[0], o[1]:o[1] + m.shape[1], o[0]:o[0] + m.shape[2]] = m
        masks.append(full)
    masks.sort(key=lambda m: np.argwhere(m)[:, 2].mean())
    n_i = hu.shape[2]
    ii = np.arange(n_i)
    # per (k, j) row: the last column of the lower foot and the first of the upper one
    a_last = np.where(masks[0], ii, -1).max(axis=2)
    b_first = np.where(masks[1], ii, n_i).min(axis=2)
    both = (a_last >= 0) & (b_first < n_i)
    a1 = int(a_last.max())
    b0 = int(np.argwhere(masks[1])[:, 2].min())
    assert a1 < b0, "the phantom's feet must start apart"
    gap = int((b_first - a_last)[both].min())
    shift = gap + int(np.ceil(overlap_mm / ct.spacing_mm[0]))
    cut = (a1 + b0) // 2
    moved = np.full_like(hu, -1000.0)
    moved[..., :cut] = hu[..., :cut]
    moved[..., cut - shift: hu.shape[2] - shift] = np.maximum(moved[..., cut - shift: hu.shape[2] - shift],
                                                             hu[..., cut:])
    return ct.with_array(moved), shift


def test_feet_pressed_together_are_cut_apart_along_their_contact(study, report_bilateral) -> None:  # noqa: ANN001
    """Feet touching (their tissues merged over 2 mm) are still two feet, each with its own hallux."""
    from bonecover.hallux import locate_hallux

    ct = study.series[0].volume
    apart = split_feet(ct)
    pressed, shift = _pressed_together(ct, apart, overlap_mm=2.0)
    with pytest.raises(InputError, match="Laterality"):
        split_feet(pressed)  # without being told both feet are there, one piece is one foot
    crops = split_feet(pressed, both_feet=True)
    assert [c.side for c in crops] == ["right", "left"]
    assert all("touch" in c.how for c in crops)
    # the foot slid across is the one at higher index i
    apart_i = {c.side: ct.world_to_index(c.ct.index_to_world(np.zeros((1, 3))))[0, 0] for c in apart}
    slid = max(apart_i, key=apart_i.get)
    shift_mm = ct.index_to_world(np.array([[-shift, 0.0, 0.0]]))[0] - ct.index_to_world(np.zeros((1, 3)))[0]
    for crop in crops:
        foot = study.feet[crop.side]
        offset = shift_mm if crop.side == slid else np.zeros(3)
        other = study.feet["left" if crop.side == "right" else "right"]
        other_offset = shift_mm if crop.side != slid else np.zeros(3)
        idx = np.argwhere(crop.tissue.array)[::5]
        pts = crop.ct.index_to_world(idx[:, ::-1].astype(float))
        # no bone of the other foot, and (almost) none of its soft tissue deeper than 1 mm
        assert not np.any(other.bone_sdf(pts - other_offset) < 0.0), crop.side
        assert np.mean(other.body_sdf(pts - other_offset) < -1.0) < 0.01, crop.side
        # this foot's own tissue kept: its body (beyond the overlap) lies in its mask
        own = foot.body_sdf(pts - offset) < 1.0
        assert own.mean() > 0.97, (crop.side, own.mean())
        # the same hallux as with the feet apart (the right one has lost its tip to the wound)
        bones = locate_hallux(segment_foot(crop))
        # the comparison of the same scan with the feet apart (right affected)
        alone = report_bilateral.extras["affected_hallux" if crop.side == "right" else "healthy_hallux"]
        assert np.linalg.norm(bones.frame.tip_mm - (alone.frame.tip_mm + offset)) < 1.0, crop.side
        assert bones.joints_from_tip_mm == pytest.approx(alone.joints_from_tip_mm, abs=1.0), crop.side
        if crop.side == "left":  # unwounded: at the phantom's landmark
            assert np.linalg.norm(bones.frame.tip_mm - (foot.landmarks_mm["hallux_tip"] + offset)) < 2.0
