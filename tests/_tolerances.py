"""Issue 4's accuracy tolerances, shared by the tests that score against phantom truth."""

from __future__ import annotations

import pytest


def assert_side_matches_truth(m: dict, t: dict, label: str) -> None:
    """One hallux's metrics ``m`` against its truth ``t``."""
    assert m["covered_fraction"] == pytest.approx(t["covered_fraction"], abs=0.03), label
    assert abs(m["exposed_area_mm2"] - t["exposed_area_mm2"]) <= max(0.15 * t["exposed_area_mm2"], 15.0), label
    for stat in ("mean", "median"):
        tol = max(0.3, 0.1 * t["thickness_mm"][stat])
        assert m["thickness_mm"][stat] == pytest.approx(t["thickness_mm"][stat], abs=tol), (label, stat)
    assert m["soft_tissue_volume_ml"] == pytest.approx(t["soft_tissue_volume_ml"], rel=0.10), label
    assert m["bone_volume_ml"] == pytest.approx(t["bone_volume_ml"], rel=0.10), label
