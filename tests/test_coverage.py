"""Stage 6, measuring coverage, against the phantom's exact truth (issue 4 tolerances).

The hallux bones are picked with the truth's landmarks here: locating them
automatically is a stage of its own. Split and segmentation are the real ones."""

from __future__ import annotations

import numpy as np
import pytest
from _tolerances import assert_side_matches_truth
from scipy import ndimage

from bonecover.coverage import measure_coverage
from bonecover.feet import split_feet
from bonecover.regions import HalluxFrame
from bonecover.segment import segment_foot


@pytest.mark.slow
def test_coverage_matches_truth(phantom_bilateral) -> None:  # noqa: ANN001
    study = phantom_bilateral[0]
    truth = study.truth
    for crop in split_feet(study.series[0].volume):
        tissues = segment_foot(crop)
        role = "affected" if crop.side == truth["affected_side"] else "healthy"
        lm = {k: np.array(v) for k, v in truth["landmarks"][role].items()}
        labels, _ = ndimage.label(tissues.bone.array)
        axis = lm["hallux_tip"] - lm["proximal_phalanx_base_centre"]
        axis /= np.linalg.norm(axis)
        picks = [lm["proximal_phalanx_base_centre"], lm["interphalangeal_joint_centre"] - 5 * axis,
                 lm["interphalangeal_joint_centre"] + 5 * axis]
        ids = {int(labels[tuple(np.round(tissues.ct.world_to_index(p[None])[0][::-1]).astype(int))]) for p in picks}
        mt1_index = np.round(tissues.ct.world_to_index(lm["metatarsal1_head_centre"][None])[0][::-1]).astype(int)
        mt1 = int(labels[tuple(mt1_index)])
        assert 0 not in ids and mt1 not in ids, "hallux bones must be objects of their own"
        fr = truth[role]["hallux_frame"]
        frame = HalluxFrame(*(np.array(fr[k]) for k in ("base_mm", "tip_mm", "dorsal", "medial")))
        m = measure_coverage(tissues, tissues.bone.with_array(np.isin(labels, list(ids))), frame).metrics
        assert_side_matches_truth(m, truth[role], role)
