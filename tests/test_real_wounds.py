"""Wounds carved into the real scan (../shared/data/vhf_feet): bonecover finds them where they are.

Craters are carved through the soft tissue of the real LEFT hallux (``bench/real_wounds.py``:
soft tissue in a sphere replaced by air, bone kept; once the bone is cut too), the
wounded volume is written as MetaImage and compared with ``affected_side="left"``.
The reference exposed area is computed on a 0.25 mm grid without bonecover's measuring
code (bone = the unwounded run's hallux mask, smoothed; body = HU > -500 minus the
sphere; thickness by a Euclidean distance transform; see the bench module's docstring).
Numbers: ``bench/real_wounds_results.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import real_wounds as rw  # noqa: E402

#: two of the bench's four sites: a crater down to the bone, and one that cuts a cap of bone
WOUNDS = ("dorsal_distal", "dorsal_proximal_bone_cut")


@pytest.fixture(scope="module")
def unwounded(vhf_feet: Path):  # noqa: ANN201
    """(CT volume, bonecover's report of the unwounded scan, reference grid on its left hallux)."""
    from bonecover.io import load_ct
    from bonecover.pipeline import CompareOptions, compare

    ct = load_ct(vhf_feet).volume
    base = compare(vhf_feet, options=CompareOptions(affected_side="left"))
    return ct, base, rw.ReferenceGrid(ct, base.extras["affected_hallux"].mask, spacing_mm=0.25)


@pytest.fixture(scope="module")
def wounds(unwounded, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    """{site name: (WoundResult, Report of the wounded volume)} for the sites in WOUNDS."""
    ct, base, grid = unwounded
    folder = tmp_path_factory.mktemp("real_wounds")
    sites = {s.name: s for s in rw.SITES}
    return {name: rw.run_wound(sites[name], ct, base, grid, folder) for name in WOUNDS}


def test_carving_touches_only_soft_tissue_in_the_sphere(unwounded, tmp_path: Path) -> None:  # noqa: ANN001
    from bonecover.io import load_ct

    ct, base, _ = unwounded
    bones = base.extras["affected_hallux"]
    site = next(s for s in rw.SITES if s.name == "dorsal_distal")
    centre, cover, depth = rw.site_centre(site, ct, bones)
    assert 2.0 < cover < site.radius_mm and depth > 0.5, (cover, depth)  # the crater reaches the bone
    wounded = rw.carve(ct, centre, site.radius_mm, keep=bones.mask)
    changed = np.argwhere(np.asarray(wounded.array) != np.asarray(ct.array))[:, ::-1]
    dist = np.linalg.norm(ct.index_to_world(changed.astype(float)) - centre, axis=1)
    assert len(changed) > 500 and dist.max() <= site.radius_mm + 0.5 * np.sqrt(3)
    # hallux bone voxels are never touched without cut_bone
    bone_pts = bones.mask.index_to_world(np.argwhere(np.asarray(bones.mask.array))[:, ::-1].astype(float))
    bone_ijk = np.rint(ct.world_to_index(bone_pts)).astype(int)
    assert np.array_equal(np.asarray(wounded.array)[bone_ijk[:, 2], bone_ijk[:, 1], bone_ijk[:, 0]],
                          np.asarray(ct.array)[bone_ijk[:, 2], bone_ijk[:, 1], bone_ijk[:, 0]])
    # the crater's centre is air, and the written volume keeps the geometry and the values
    assert wounded.array[tuple(np.rint(ct.world_to_index(centre[None]))[0, ::-1].astype(int))] <= -950
    back = load_ct(rw.write_volume(wounded, tmp_path / "w.mha")).volume
    assert np.allclose(back.affine, ct.affine) and np.array_equal(back.array, wounded.array)


@pytest.mark.parametrize("name", WOUNDS)
def test_exposure_is_found_at_the_carved_site(wounds, name: str) -> None:  # noqa: ANN001
    result, _ = wounds[name]
    assert result.reference_mm2 > 30.0, result  # the crater does bare bone
    assert result.centroid_distance_mm is not None and result.centroid_distance_mm <= rw.CENTROID_TOL_MM, result


@pytest.mark.parametrize("name", WOUNDS)
def test_exposure_at_the_wound_matches_the_reference(wounds, name: str) -> None:  # noqa: ANN001
    """bonecover's exposed area within r + 4 mm of the crater vs the reference (issue 4's tolerance)."""
    result, _ = wounds[name]
    assert abs(result.bonecover_near_mm2 - result.reference_mm2) <= result.tolerance_mm2, result


@pytest.mark.parametrize("name", ["dorsal_distal", "dorsal_proximal_bone_cut"])
def test_exposed_area_matches_the_reference(wounds, name: str) -> None:  # noqa: ANN001
    result, report = wounds[name]
    assert result.bonecover_mm2 == pytest.approx(report.document["affected"]["exposed_area_mm2"], abs=1e-6)
    assert result.area_ok, result


@pytest.mark.parametrize("name", WOUNDS)
def test_healthy_side_stays_covered_and_registration_holds(wounds, name: str) -> None:  # noqa: ANN001
    result, report = wounds[name]
    assert result.healthy_exposed_mm2 <= 1.0, result
    assert report.qa != "fail" and result.residual_mm < 0.8, result


def test_unwounded_left_hallux_is_not_exposed(unwounded) -> None:  # noqa: ANN001
    """Thin cover over a thin cortex (about 1.8 mm at (260, 159, 41) LPS mm) is not exposure: the bone
    edge is half way to air only where the bone touches the outside (it read 9.7 mm2 before)."""
    _, base, grid = unwounded
    reference = grid.measure()
    assert reference.exposed_area_mm2 <= 1.0
    assert base.document["affected"]["exposed_area_mm2"] <= max(reference.exposed_area_mm2, 0.0) + 5.0
