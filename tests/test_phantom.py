"""The phantom as written to disk: a real DICOM series, geometry that round-trips,
landmarks that land on the right anatomy, and the README's demo command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from typer.testing import CliRunner

from bonecover.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The phantom written by the README's demo: bilateral, small, a small wound (seed 0)."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "covered fraction" in result.output and "coverage ratio" in result.output
    assert (out / "report.json").is_file()
    return out / "phantom"


@pytest.fixture(scope="module")
def separate_dir(phantom_separate) -> Path:  # noqa: ANN001
    """One series per foot, wound on the left hallux (the session's shared phantom)."""
    return phantom_separate[1]


def _read_series(folder: Path) -> tuple[sitk.Image, list[pydicom.Dataset]]:
    reader = sitk.ImageSeriesReader()
    files = reader.GetGDCMSeriesFileNames(str(folder))
    reader.SetFileNames(files)
    return reader.Execute(), [pydicom.dcmread(f) for f in files]


def test_demo_writes_a_valid_ct_series(demo_dir: Path) -> None:
    img, datasets = _read_series(demo_dir / "ct")
    assert img.GetSize()[2] == len(datasets) == len(list((demo_dir / "ct").iterdir()))
    sops = {ds.SOPInstanceUID for ds in datasets}
    assert len(sops) == len(datasets)  # unique instance UIDs
    first = datasets[0]
    assert first.file_meta.MediaStorageSOPClassUID == pydicom.uid.CTImageStorage
    assert first.SOPClassUID == pydicom.uid.CTImageStorage
    assert first.PatientPosition == "FFS"
    assert "PHANTOM" in str(first.PatientName)  # obviously fake identity
    assert "Laterality" not in first  # both feet in one series
    for ds in datasets:
        for uid in (ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.FrameOfReferenceUID):
            assert len(uid) <= 64 and all(part.isdigit() for part in uid.split("."))
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 1
    # stored integers with a rescale; HU reach air, fat, soft tissue and cortex
    assert first.BitsAllocated == 16 and float(first.RescaleIntercept) == -1024.0
    hu = sitk.GetArrayFromImage(img)
    assert hu.min() <= -990 and hu.max() >= 900
    # slices are evenly spaced along the normal, at the declared spacing
    iop = np.array(first.ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    pos = np.sort([float(np.dot(ds.ImagePositionPatient, normal)) for ds in datasets])
    np.testing.assert_allclose(np.diff(pos), float(first.SliceThickness), atol=1e-4)
    np.testing.assert_allclose(img.GetSpacing()[:2], [float(v) for v in first.PixelSpacing][::-1], atol=1e-6)


def test_landmarks_land_on_the_expected_anatomy(demo_dir: Path) -> None:
    """Geometry round trip: truth landmarks (patient mm) fall on bone in the loaded volume."""
    img, _ = _read_series(demo_dir / "ct")
    hu = sitk.GetArrayFromImage(img).astype(float)
    truth = json.loads((demo_dir / "truth.json").read_text())
    spacing = np.array(img.GetSpacing())
    for role in ("affected", "healthy"):
        lm = {k: np.array(v) for k, v in truth["landmarks"][role].items()}
        for name in ("metatarsal1_head_centre", "metatarsal5_head_centre", "proximal_phalanx_base_centre"):
            i, j, k = np.round(img.TransformPhysicalPointToContinuousIndex(tuple(lm[name]))).astype(int)
            assert hu[k, j, i] > 120, (role, name, hu[k, j, i])  # inside bone (marrow or cortex)
        # the tip is the distal end of the bone: bone within a voxel, none 2 mm further distally
        axis = lm["hallux_tip"] - lm["proximal_phalanx_base_centre"]
        axis /= np.linalg.norm(axis)
        def max_hu_near(p: np.ndarray, reach_mm: float) -> float:
            c = np.array(img.TransformPhysicalPointToContinuousIndex(tuple(p)))
            r = np.ceil(reach_mm / spacing).astype(int)
            lo, hi = np.floor(c).astype(int) - r, np.ceil(c).astype(int) + r + 1
            return float(hu[lo[2]:hi[2], lo[1]:hi[1], lo[0]:hi[0]].max())
        assert max_hu_near(lm["hallux_tip"] - 0.5 * axis, spacing.max()) > 400, role
        assert max_hu_near(lm["hallux_tip"] + 2.5 * axis, 0.6) < 300, role


def test_truth_json_has_the_spec_keys(demo_dir: Path) -> None:
    truth = json.loads((demo_dir / "truth.json").read_text())
    for side in ("affected", "healthy"):
        m = truth[side]
        for key in ("bone_area_mm2", "exposed_area_mm2", "covered_fraction", "soft_tissue_volume_ml", "bone_volume_ml"):
            assert isinstance(m[key], float), key
        assert set(m["thickness_mm"]) == {"mean", "median", "p05", "p95"}
        assert set(m["regions"]) == {"dorsal", "plantar", "medial", "lateral", "tip"}
    assert set(truth["comparison"]) == {"coverage_ratio", "soft_tissue_deficit_ml", "thickness_deficit_mm"}
    for key in ("hallux_transform", "foot_transform"):
        m = np.array(truth["registration"][key])
        assert m.shape == (4, 4)
        assert np.linalg.det(m[:3, :3]) == pytest.approx(-1.0, abs=1e-6)  # includes the reflection
    assert truth["affected_side"] == "right"
    assert set(truth["landmarks"]["affected"]) == {
        "hallux_tip", "interphalangeal_joint_centre", "proximal_phalanx_base_centre",
        "metatarsal1_head_centre", "metatarsal5_head_centre"}
    assert truth["series"]["both"]["folder"] == "ct"


def test_foot_transform_maps_healthy_landmarks_onto_affected(demo_dir: Path) -> None:
    truth = json.loads((demo_dir / "truth.json").read_text())
    foot = np.array(truth["registration"]["foot_transform"])
    hallux = np.array(truth["registration"]["hallux_transform"])
    lm_h = {k: np.array(v) for k, v in truth["landmarks"]["healthy"].items()}
    lm_a = {k: np.array(v) for k, v in truth["landmarks"]["affected"].items()}
    def apply(m: np.ndarray, p: np.ndarray) -> np.ndarray:
        return m[:3, :3] @ p + m[:3, 3]
    # metatarsal heads are the origins of their bones' frames: mapped exactly
    for name in ("metatarsal1_head_centre", "metatarsal5_head_centre"):
        np.testing.assert_allclose(apply(foot, lm_h[name]), lm_a[name], atol=1e-6)
    # the hallux has its own pose: the hallux transform fits it, the foot transform need not
    for name in ("hallux_tip", "interphalangeal_joint_centre", "proximal_phalanx_base_centre"):
        assert np.linalg.norm(apply(hallux, lm_h[name]) - lm_a[name]) < 1.5, name


def test_separate_layout_writes_one_series_per_foot(separate_dir: Path) -> None:
    truth = json.loads((separate_dir / "truth.json").read_text())
    lateralities = {}
    uids = set()
    for side in ("left", "right"):
        _, datasets = _read_series(separate_dir / f"ct_{side}")
        lateralities[side] = datasets[0].Laterality
        uids.add(datasets[0].SeriesInstanceUID)
        assert datasets[0].FrameOfReferenceUID == truth["frame_of_reference_uid"]
    assert lateralities == {"left": "L", "right": "R"}
    assert len(uids) == 2
    assert truth["affected_side"] == "left"
    assert truth["phantom"]["feet"]["left"]["defect"]["kind"] == "small"
    # the wound exposes bone on the affected side only
    assert truth["affected"]["exposed_area_mm2"] > 10.0
    assert truth["healthy"]["exposed_area_mm2"] == 0.0


def test_the_two_feet_are_mirror_images_in_patient_space(separate_dir: Path) -> None:
    """Each foot lies on its own side of the patient, medial toes towards the midline."""
    truth = json.loads((separate_dir / "truth.json").read_text())
    left, right = truth["landmarks"]["affected"], truth["landmarks"]["healthy"]  # affected = left
    assert left["metatarsal1_head_centre"][0] > 0 > right["metatarsal1_head_centre"][0]  # +x is patient left
    # the first ray is medial: closer to the midline than the fifth
    assert left["metatarsal1_head_centre"][0] < left["metatarsal5_head_centre"][0]
    assert right["metatarsal1_head_centre"][0] > right["metatarsal5_head_centre"][0]
