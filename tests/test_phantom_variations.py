"""Scan and pose variations of the phantom, as real studies have them: head-first
patients, forced voxel sizes, origins at zero, plantar-flexed feet in a stack that
starts at the toe tips, toes that touch, and a dressing on the skin that is not body.

Small, coarse (1 mm) phantoms without truth keep this fast; the truth's own tests
live in ``test_truth.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from scipy import ndimage
from typer.testing import CliRunner

from bonecover.cli import app
from bonecover.errors import InputError
from bonecover.foot_model import FootModel
from bonecover.implicit import apply_affine
from bonecover.phantom import PhantomConfig, PhantomStudy, _series_grid, make_phantom, sample_feet, write_phantom
from bonecover.volume import Volume

SEED = 21


def coarse(**options: Any) -> PhantomConfig:
    """Seed ``SEED`` at 1 mm voxels with ``options``."""
    return PhantomConfig(seed=SEED, voxel_mm=1.0, slice_mm=1.0, **options)


def _write(study: PhantomStudy, tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    out = tmp_path_factory.mktemp(name)
    write_phantom(study, out)
    return out


@pytest.fixture(scope="module")
def hfs(tmp_path_factory: pytest.TempPathFactory) -> tuple[PhantomStudy, Path]:
    study = make_phantom(coarse(patient_position="HFS", foot_rest=False),
                         with_truth=False)
    return study, _write(study, tmp_path_factory, "hfs")


@pytest.fixture(scope="module")
def origin_zero(tmp_path_factory: pytest.TempPathFactory) -> tuple[PhantomStudy, Path]:
    study = make_phantom(coarse(origin_at_zero=True), with_truth=False)
    return study, _write(study, tmp_path_factory, "origin0")


@pytest.fixture(scope="module")
def origin_zero_separate(tmp_path_factory: pytest.TempPathFactory) -> tuple[PhantomStudy, Path]:
    study = make_phantom(coarse(origin_at_zero=True, layout="separate", affected="left"), with_truth=False)
    return study, _write(study, tmp_path_factory, "origin0sep")


def _read_series(folder: Path) -> tuple[sitk.Image, list[pydicom.Dataset]]:
    reader = sitk.ImageSeriesReader()
    files = reader.GetGDCMSeriesFileNames(str(folder))
    reader.SetFileNames(files)
    return reader.Execute(), [pydicom.dcmread(f, stop_before_pixels=True) for f in files]


def _assert_landmarks_on_bone(img: sitk.Image, landmarks: dict[str, list[float]], label: str) -> None:
    """The truth's landmarks (patient mm) fall on bone of the image as a DICOM reader places it."""
    hu = sitk.GetArrayFromImage(img).astype(float)
    for name in ("metatarsal1_head_centre", "metatarsal5_head_centre", "proximal_phalanx_base_centre",
                 "interphalangeal_joint_centre"):
        i, j, k = np.round(img.TransformPhysicalPointToContinuousIndex(tuple(landmarks[name]))).astype(int)
        assert 0 <= k < hu.shape[0] and 0 <= j < hu.shape[1] and 0 <= i < hu.shape[2], (label, name)
        floor = 0.0 if name == "interphalangeal_joint_centre" else 120.0  # the joint gap is soft tissue
        window = hu[max(k - 1, 0):k + 2, max(j - 1, 0):j + 2, max(i - 1, 0):i + 2]
        assert hu[k, j, i] > floor or window.max() > 600, (label, name, hu[k, j, i])
    # the tip is the distal end of the bone: none 3 mm further along the hallux axis
    axis = np.subtract(landmarks["hallux_tip"], landmarks["proximal_phalanx_base_centre"])
    axis /= np.linalg.norm(axis)
    beyond = np.add(landmarks["hallux_tip"], 3.0 * axis)
    i, j, k = np.round(img.TransformPhysicalPointToContinuousIndex(tuple(beyond))).astype(int)
    assert hu[k, j, i] < 300, (label, "beyond the tip", hu[k, j, i])


def _roles(study: PhantomStudy) -> dict[str, str]:
    return {study.config.affected: "affected", study.config.healthy: "healthy"}


# ----------------------------------------------------------------------------- patient position
def test_head_first_supine_header_and_geometry(hfs: tuple[PhantomStudy, Path]) -> None:
    study, out = hfs
    img, datasets = _read_series(out / "ct")
    first = datasets[0]
    assert first.PatientPosition == "HFS"
    np.testing.assert_allclose([float(v) for v in first.ImageOrientationPatient], [1, 0, 0, 0, 1, 0])
    # slices run from the head side down, against the orientation's normal (+z)
    by_instance = sorted(datasets, key=lambda ds: int(ds.InstanceNumber))
    z = np.array([float(ds.ImagePositionPatient[2]) for ds in by_instance])
    assert np.all(np.diff(z) < 0)
    truth = study.truth
    for role in ("affected", "healthy"):
        _assert_landmarks_on_bone(img, truth["landmarks"][role], f"HFS {role}")
    # patient right (-x) lies at low column indices now, where FFS puts patient left
    right = truth["landmarks"]["affected"]["metatarsal1_head_centre"]  # affected = right
    i = img.TransformPhysicalPointToContinuousIndex(tuple(right))[0]
    assert i < img.GetSize()[0] / 2


def test_patient_position_keeps_the_feet_in_place(hfs: tuple[PhantomStudy, Path]) -> None:
    study, _ = hfs
    plain = sample_feet(PhantomConfig(seed=SEED), np.random.default_rng(SEED))
    for side, foot in study.feet.items():
        for name, point in foot.landmarks_mm.items():
            np.testing.assert_allclose(point, plain[side].landmarks_mm[name], atol=1e-9)


# ----------------------------------------------------------------------------- voxel size
def test_voxel_override_gives_the_asked_spacing(hfs: tuple[PhantomStudy, Path]) -> None:
    study, out = hfs
    img, datasets = _read_series(out / "ct")
    np.testing.assert_allclose(img.GetSpacing(), (1.0, 1.0, 1.0), atol=1e-6)
    assert [float(v) for v in datasets[0].PixelSpacing] == [1.0, 1.0]
    assert float(datasets[0].SliceThickness) == 1.0
    assert study.truth["phantom"]["voxel_mm"] == 1.0


@pytest.mark.parametrize(("size", "voxel", "slice_mm"), [("small", 0.4, 0.5), ("clinical", 0.3, 0.4),
                                                          ("clinical", 1.0, 1.25)])
def test_voxel_override_on_both_sizes(size: str, voxel: float, slice_mm: float) -> None:
    """The series grid has exactly the asked spacing; clinical matrices grow past 512 when needed."""
    config = PhantomConfig(seed=SEED, size=size, voxel_mm=voxel, slice_mm=slice_mm)
    feet = sample_feet(config, np.random.default_rng(SEED))
    tissue = np.concatenate([_coarse(feet[s], config) for s in ("left", "right")])
    grid = _series_grid(config, list(feet.values()), tissue, voxel, slice_mm, False, np.random.default_rng(0))
    np.testing.assert_allclose(grid.spacing_mm, (voxel, voxel, slice_mm))
    extent = float(np.ptp(tissue[:, :2], axis=0).max())
    if size == "clinical":  # the smallest scanner matrix that holds both feet
        n = grid.shape[2]
        assert grid.shape[1] == n and n in (512, 768, 1024)
        smaller = {512: 0, 768: 512, 1024: 768}[n]
        assert (n - 1) * voxel >= extent and (smaller - 1) * voxel < extent + 20.0
    lo, hi = grid.bounds_mm()
    assert np.all(lo[:2] <= tissue[:, :2].min(axis=0)) and np.all(hi[:2] >= tissue[:, :2].max(axis=0))


def test_config_rejects_bad_variations() -> None:
    for kwargs, match in (({"voxel_mm": 0.1}, "voxel_mm"), ({"slice_mm": 7.0}, "slice_mm"),
                          ({"patient_position": "FFP"}, "patient_position"), ({"dressing": "cast"}, "dressing"),
                          ({"plantar_flexion_deg": (60.0, 30.0)}, "plantar_flexion_deg"),
                          ({"dressing_site": "heel"}, "dressing_site")):
        with pytest.raises(InputError, match=match):
            PhantomConfig(**kwargs)


def _coarse(foot: FootModel, config: PhantomConfig) -> np.ndarray:
    from bonecover.phantom import _SIZES, _coarse_tissue

    return _coarse_tissue(foot, _SIZES[config.size]["proximal_mm"])


# ----------------------------------------------------------------------------- origin at zero
def test_origin_at_zero_moves_the_scene_not_the_header(origin_zero: tuple[PhantomStudy, Path]) -> None:
    study, out = origin_zero
    img, datasets = _read_series(out / "ct")
    np.testing.assert_allclose(img.GetOrigin(), (0.0, 0.0, 0.0), atol=1e-6)
    first = min(datasets, key=lambda ds: int(ds.InstanceNumber))
    np.testing.assert_allclose([float(v) for v in first.ImagePositionPatient], 0.0, atol=1e-6)
    for role in ("affected", "healthy"):
        _assert_landmarks_on_bone(img, study.truth["landmarks"][role], f"origin-0 {role}")
    # both feet moved by the same recorded offset: landmarks and pose parameters agree
    shift = np.array(study.truth["phantom"]["origin_shift_mm"]["both"])
    plain = sample_feet(PhantomConfig(seed=SEED), np.random.default_rng(SEED))
    for side, foot in study.feet.items():
        for name, point in foot.landmarks_mm.items():
            np.testing.assert_allclose(point, plain[side].landmarks_mm[name] + shift, atol=1e-9)
        np.testing.assert_allclose(foot.params.position_mm, np.add(plain[side].params.position_mm, shift))
    assert json.loads((out / "truth.json").read_text())["phantom"]["origin_at_zero"] is True


def test_origin_at_zero_with_separate_series(origin_zero_separate: tuple[PhantomStudy, Path]) -> None:
    """Each series starts at 0,0,0 in its own frame of reference; each foot moved with its series."""
    study, out = origin_zero_separate
    truth = json.loads((out / "truth.json").read_text())
    frames = set()
    for side in ("left", "right"):
        img, datasets = _read_series(out / f"ct_{side}")
        np.testing.assert_allclose(img.GetOrigin(), (0.0, 0.0, 0.0), atol=1e-6)
        frames.add(datasets[0].FrameOfReferenceUID)
        assert datasets[0].FrameOfReferenceUID == truth["series"][side]["frame_of_reference_uid"]
        role = _roles(study)[side]
        _assert_landmarks_on_bone(img, truth["landmarks"][role], f"separate origin-0 {side}")
    assert len(frames) == 2
    shifts = truth["phantom"]["origin_shift_mm"]
    assert not np.allclose(shifts["left"], shifts["right"])


def test_translated_foot_moves_everything() -> None:
    feet = sample_feet(PhantomConfig(seed=SEED, defect="large"), np.random.default_rng(SEED))
    foot = feet["right"]
    offset = np.array([-31.5, 12.25, 140.0])
    moved = foot.translated(offset)
    rng = np.random.default_rng(1)
    lo, hi = foot.bbox_mm()
    pts = rng.uniform(lo, hi, (5000, 3))
    np.testing.assert_allclose(moved.body_sdf(pts + offset), foot.body_sdf(pts), atol=1e-9)
    np.testing.assert_allclose(moved.hallux_sdf(pts + offset), foot.hallux_sdf(pts), atol=1e-9)
    np.testing.assert_allclose(moved.params.foot_to_patient()[:3, 3] - foot.params.foot_to_patient()[:3, 3], offset)
    for name in foot.landmarks_mm:
        np.testing.assert_allclose(moved.landmarks_mm[name], foot.landmarks_mm[name] + offset, atol=1e-9)


# ----------------------------------------------------------------------------- plantar flexion, toe-tip stack
def test_plantar_flexion_range_turns_the_foot_towards_the_scanner_axis() -> None:
    config = PhantomConfig(seed=SEED, plantar_flexion_deg=(30.0, 60.0))
    for seed in range(6):
        feet = sample_feet(PhantomConfig(seed=seed, plantar_flexion_deg=(30.0, 60.0)), np.random.default_rng(seed))
        for foot in feet.values():
            abd, flex, inv = foot.params.pose_deg
            assert 30.0 <= flex <= 60.0
            assert np.hypot(abd, inv) <= 20.0 + 1e-9  # the cap applies to the other rotations
            u = foot.params.foot_to_patient()[:3, 0]  # the foot's long axis, heel to toes
            angle_to_z = np.degrees(np.arccos(-u[2]))  # toes point down the scanner axis (-z)
            assert angle_to_z == pytest.approx(90.0 - flex, abs=1e-6)  # 30-60 degrees from the axis
    default = sample_feet(PhantomConfig(seed=SEED), np.random.default_rng(SEED))
    flexed = sample_feet(config, np.random.default_rng(SEED))
    assert all(abs(f.params.pose_deg[1]) <= 15.0 for f in default.values())
    assert flexed["left"].params.hallux_valgus_deg == default["left"].params.hallux_valgus_deg  # same patient


def test_stack_starts_at_the_toe_tips() -> None:
    study = make_phantom(coarse(plantar_flexion_deg=(35.0, 55.0), stack_from_toe_tips=True), with_truth=False)
    vol = study.series[0].volume
    assert vol.direction[2, 2] == 1.0  # slices run headwards from the toes
    assert study.truth["phantom"]["foot_rest"] is False  # nothing under toes pointing down the table
    hu = np.asarray(vol.array)
    z0 = float(vol.origin_mm[2])
    # the lowest tissue is a toe tip, at most 0.5 mm above the first slice
    lowest = min(float(f.landmarks_mm["hallux_tip"][2]) for f in study.feet.values())
    assert z0 < lowest < z0 + 15.0
    # no tissue at or below the first slice's centres; the nearest within 0.5 mm up plus a pixel aside
    ji = np.argwhere(np.ones(hu.shape[1:], bool)).astype(float)
    plane = vol.index_to_world(np.column_stack([ji[:, 1], ji[:, 0], np.zeros(len(ji))]))
    nearest = min(float(f.body_sdf(plane).min()) for f in study.feet.values())
    assert 0.0 < nearest < 0.5 + 0.75
    assert hu[0].max() < 0.0 and hu[:3].max() > -300.0  # the first slice barely touches it; the third shows it


# ----------------------------------------------------------------------------- toes that touch
def _hallux_and_second_toe_connected(study: PhantomStudy, side: str) -> bool:
    """Whether hallux and second toe soft tissue are one component distal to the web.

    Labels a soft-tissue threshold (> -400 HU) of a crop around both toes, keeping only
    voxels more distal (foot frame) than 10 mm proximal of the second toe's last joint.
    """
    vol = study.series[0].volume
    foot = study.feet[side]
    from_patient = np.linalg.inv(foot.params.foot_to_patient())
    a = foot.landmarks_mm["interphalangeal_joint_centre"]
    b = foot.bone("toe2_distal_phalanx").to_patient[:3, 3]  # the second toe's last joint
    cut = apply_affine(from_patient, b[None])[0, 0] - 10.0
    lo, hi = np.minimum(a, b) - 25.0, np.maximum(a, b) + 25.0
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    ijk = vol.world_to_index(corners)
    i0 = np.clip(np.floor(ijk.min(axis=0)).astype(int), 0, None)
    i1 = np.ceil(ijk.max(axis=0)).astype(int) + 1
    crop: Volume = vol.crop(slice(i0[2], i1[2]), slice(i0[1], i1[1]), slice(i0[0], i1[0]))
    k, j, i = np.indices(crop.shape)
    pts = crop.index_to_world(np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1).astype(float))
    distal = apply_affine(from_patient, pts)[:, 0].reshape(crop.shape) > cut
    labels, _ = ndimage.label((np.asarray(crop.array) > -400.0) & distal)
    la, lb = (labels[tuple(np.round(crop.world_to_index(p[None])[0]).astype(int)[::-1])] for p in (a, b))
    assert la > 0 and lb > 0
    return bool(la == lb)


def test_touching_toes_are_one_connected_body(hfs: tuple[PhantomStudy, Path]) -> None:
    touching = make_phantom(coarse(patient_position="HFS", foot_rest=False, toes_touching=True), with_truth=False)
    plain, _ = hfs  # same patient, toes apart
    for side in ("left", "right"):
        assert touching.truth["phantom"]["feet"][side]["hallux_second_toe_contact_mm"] >= 0.9  # drawn 1-2.5 mm
        assert plain.truth["phantom"]["feet"][side]["hallux_second_toe_contact_mm"] < 0.0
        assert _hallux_and_second_toe_connected(touching, side), side
        assert not _hallux_and_second_toe_connected(plain, side), side
        # the hallux leans on the second toe: more valgus than the same patient's free toe
        assert touching.feet[side].params.hallux_valgus_deg > plain.feet[side].params.hallux_valgus_deg


# ----------------------------------------------------------------------------- dressing
def test_dressing_lies_on_the_skin_outside_the_body_and_leaves_the_truth(hfs: tuple[PhantomStudy, Path]) -> None:
    plain, _ = hfs
    wrapped = make_phantom(coarse(patient_position="HFS", foot_rest=False, dressing="foil"), with_truth=False)
    # the truth depends on the feet only, and they are the same feet
    assert wrapped.truth["landmarks"] == plain.truth["landmarks"]
    for side in ("left", "right"):
        a, b = wrapped.truth["phantom"]["feet"][side], plain.truth["phantom"]["feet"][side]
        assert a == b
    foot = wrapped.feet[wrapped.config.affected]
    rng = np.random.default_rng(2)
    lo, hi = foot.bbox_mm()
    pts = rng.uniform(lo, hi, (4000, 3))
    np.testing.assert_array_equal(foot.body_sdf(pts), plain.feet[wrapped.config.affected].body_sdf(pts))
    # the image differs by a thin dense layer touching the skin of the affected hallux
    vol = wrapped.series[0].volume
    diff = np.asarray(vol.array, float) - np.asarray(plain.series[0].volume.array, float)
    idx = np.argwhere(diff > 100.0)
    assert len(idx) > 200
    where = vol.index_to_world(idx[:, ::-1].astype(float))
    body = foot.body_sdf(where)
    assert np.median(body) > 0.0 and body.min() > -1.5  # outside, blurred into the skin by at most a voxel
    assert np.percentile(body, 5) < 0.5  # lying on the skin
    to_tip = np.linalg.norm(where - foot.landmarks_mm["hallux_tip"], axis=1)
    assert to_tip.max() < 70.0  # around the hallux only
    d = wrapped.truth["phantom"]["dressing"]
    assert d["kind"] == "foil" and 0.3 <= d["thickness_mm"] <= 0.5 and 200 <= d["hu"] <= 2000


# ----------------------------------------------------------------------------- command line
def test_cli_options_reach_the_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import bonecover.phantom as phantom_module

    seen: list[PhantomConfig] = []

    def fake_make(config: PhantomConfig, *, with_truth: bool = True) -> PhantomStudy:
        seen.append(config)
        raise InputError("stop here")

    monkeypatch.setattr(phantom_module, "make_phantom", fake_make)
    runner = CliRunner()
    result = runner.invoke(app, ["phantom", "--out", str(tmp_path / "x"), "--patient-position", "hfs",
                                 "--voxel-mm", "1.0", "--slice-mm", "1.25", "--origin-zero",
                                 "--plantar-flexion-deg", "30,60", "--stack-from-toe-tips", "--toes-touching",
                                 "--dressing", "gauze", "--dressing-site", "forefoot", "--quiet"])
    assert result.exit_code == 2 and seen
    assert seen[0] == PhantomConfig(seed=0, patient_position="HFS", voxel_mm=1.0, slice_mm=1.25,
                                    origin_at_zero=True, plantar_flexion_deg=(30.0, 60.0),
                                    stack_from_toe_tips=True, toes_touching=True, dressing="gauze",
                                    dressing_site="forefoot")
    bad = runner.invoke(app, ["phantom", "--out", str(tmp_path / "y"), "--plantar-flexion-deg", "30,sixty"])
    assert bad.exit_code == 2 and "--plantar-flexion-deg" in bad.output
    bad = runner.invoke(app, ["phantom", "--out", str(tmp_path / "z"), "--slice-mm", "9"])
    assert bad.exit_code == 2 and "slice_mm" in bad.output
    assert not (tmp_path / "y").exists() and not (tmp_path / "z").exists()


def test_forefoot_gauze_wraps_all_toes_from_the_metatarsals(hfs: tuple[PhantomStudy, Path]) -> None:
    plain, _ = hfs
    wrapped = make_phantom(coarse(patient_position="HFS", foot_rest=False, dressing="gauze", dressing_site="forefoot"),
                           with_truth=False)
    assert wrapped.truth["landmarks"] == plain.truth["landmarks"]
    d = wrapped.truth["phantom"]["dressing"]
    assert d["site"] == "forefoot" and 2.0 <= d["thickness_mm"] <= 4.0 and -600 <= d["hu"] <= -200
    vol = wrapped.series[0].volume
    diff = np.asarray(vol.array, float) - np.asarray(plain.series[0].volume.array, float)
    where = vol.index_to_world(np.argwhere(diff > 150.0)[:, ::-1].astype(float))
    foot = wrapped.feet[wrapped.config.affected]
    body = foot.body_sdf(where)
    assert np.median(body) > 0.5 and body.min() > -1.5 and np.percentile(body, 2) < 0.5
    # from the metatarsals (not further proximal) over every toe, the fifth included
    u = apply_affine(np.linalg.inv(foot.params.foot_to_patient()), where)[:, 0]
    assert u.min() > -d["start_mm"] - 2.0
    for name in ("hallux_tip", "metatarsal5_head_centre"):
        assert np.linalg.norm(where - foot.landmarks_mm[name], axis=1).min() < 15.0, name
    tip5 = foot.bone("toe5_distal_phalanx").to_patient[:3, 3]
    assert np.linalg.norm(where - tip5, axis=1).min() < 10.0
    # the healthy foot is not wrapped
    other = wrapped.feet[wrapped.config.healthy]
    assert np.all(np.linalg.norm(where - other.landmarks_mm["metatarsal1_head_centre"], axis=1) > 40.0)
