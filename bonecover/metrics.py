"""SPEC's coverage numbers from a sampled bone surface and its soft-tissue thickness.

Pure functions shared by the ground truth and the measurement of scans, so both
apply the definitions of SPEC identically.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bonecover.regions import REGIONS
from bonecover.surface import weighted_stats

__all__ = ["comparison_metrics", "regional_coverage", "surface_coverage", "thickness_deficit"]


def surface_coverage(areas_mm2: np.ndarray, thickness_mm: np.ndarray, min_cover_mm: float) -> dict[str, Any]:
    """Bone area, area-weighted thickness statistics, exposed area and covered fraction.

    Parameters
    ----------
    areas_mm2 : (N,) area of each bone-surface element, mm^2.
    thickness_mm : (N,) soft-tissue thickness at each element, mm.
    min_cover_mm : thickness below which bone counts as exposed, mm.
    """
    area = float(np.sum(areas_mm2))
    if area <= 0:
        raise ValueError("surface_coverage needs a surface with positive area")
    exposed = float(np.sum(areas_mm2[thickness_mm < min_cover_mm]))
    return {
        "bone_area_mm2": area,
        "thickness_mm": weighted_stats(thickness_mm, areas_mm2),
        "exposed_area_mm2": exposed,
        "covered_fraction": 1.0 - exposed / area,
    }


def regional_coverage(areas_mm2: np.ndarray, thickness_mm: np.ndarray, region: np.ndarray,
                      min_cover_mm: float) -> dict[str, dict[str, Any]]:
    """``surface_coverage`` per hallux region (regions with no surface are omitted)."""
    out = {}
    for index, name in enumerate(REGIONS):
        sel = region == index
        if np.any(sel) and areas_mm2[sel].sum() > 0:
            out[name] = surface_coverage(areas_mm2[sel], thickness_mm[sel], min_cover_mm)
    return out


def thickness_deficit(areas_mm2: np.ndarray, affected_thickness_mm: np.ndarray,
                      healthy_thickness_mm: np.ndarray) -> dict[str, float]:
    """Area-weighted mean and median of healthy minus affected thickness at corresponding points."""
    diff = np.asarray(healthy_thickness_mm) - np.asarray(affected_thickness_mm)
    stats = weighted_stats(diff, areas_mm2)
    return {"mean": stats["mean"], "median": stats["median"]}


def comparison_metrics(affected: dict[str, Any], healthy: dict[str, Any],
                       deficit: dict[str, float]) -> dict[str, Any]:
    """SPEC's comparison block from the two sides' metrics and the thickness deficit."""
    h_cov = healthy["covered_fraction"]
    return {
        "coverage_ratio": affected["covered_fraction"] / h_cov if h_cov > 0 else None,
        "soft_tissue_deficit_ml": healthy["soft_tissue_volume_ml"] - affected["soft_tissue_volume_ml"],
        "thickness_deficit_mm": deficit,
    }
