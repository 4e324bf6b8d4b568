"""CT series -> Volume: geometry round trips of known landmarks, HU, dtype, real GE/Philips data."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from _dicom_factory import (
    LANDMARKS_MM,
    StackSpec,
    blob_centroids_mm,
    scene_hu,
    write_ct_series,
    write_enhanced_ct,
)

from bonecover.errors import InputError
from bonecover.io import load_ct
from bonecover.io.dicom_discovery import read_header

#: Landmark centroids must land within this distance of the truth (mm); voxels are
#: 0.75 x 0.8 x 1 mm, so this is well under half a voxel.
TOL_MM = 0.2


def _check_landmarks(volume, tol: float = TOL_MM) -> None:  # noqa: ANN001
    found = blob_centroids_mm(volume)
    err = np.linalg.norm(found - LANDMARKS_MM, axis=1)
    assert err.max() < tol, f"landmark errors {err} mm"


def test_plain_series_round_trip_hu_and_geometry(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "s")
    ct = load_ct(tmp_path / "s")
    vol = ct.volume
    assert vol.shape == (49, 40, 44)
    assert vol.array.dtype == np.int16
    np.testing.assert_allclose(vol.spacing_mm, [0.75, 0.8, 1.0], atol=1e-6)
    np.testing.assert_allclose(vol.direction, np.eye(3), atol=1e-9)
    # HU exactly the scene at every voxel centre
    ni, nj, nk = vol.size_ijk
    kk, jj, ii = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    world = vol.index_to_world(np.column_stack([ii.ravel(), jj.ravel(), kk.ravel()]))
    np.testing.assert_array_equal(vol.array.ravel(), scene_hu(world).astype(np.int16))
    _check_landmarks(vol)
    assert ct.warnings == ()
    assert ct.info.n_slices == 49 and ct.info.body_part == "FOOT" and ct.info.modality == "CT"
    assert ct.info.patient.patient_id == "SYNTH-0001"
    assert "SYNTH" not in repr(ct.info)


def test_shuffled_file_names_and_instance_numbers(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    names = [f"{n:08d}.dcm" for n in rng.permutation(49)]
    write_ct_series(tmp_path / "s", names=names, instance_order="shuffle", seed=3)
    ct = load_ct(tmp_path / "s")
    _check_landmarks(ct.volume)
    assert ct.volume.affine[2, 2] > 0  # increasing k goes along +normal


def test_matches_simpleitk_on_a_regular_series(tmp_path: Path) -> None:
    write_ct_series(
        tmp_path / "s", names=[f"x{n}" for n in np.random.default_rng(0).permutation(49)]
    )
    ct = load_ct(tmp_path / "s")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path / "s")))
    ref = reader.Execute()
    np.testing.assert_array_equal(ct.volume.array, sitk.GetArrayFromImage(ref))
    np.testing.assert_allclose(ct.volume.origin_mm, ref.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(ct.volume.spacing_mm, ref.GetSpacing(), atol=1e-5)


@pytest.mark.parametrize(
    "iop",
    [
        (1, 0, 0, 0, 1, 0),  # axial
        (-1, 0, 0, 0, -1, 0),  # axial, rotated 180 deg (some feet-first exports)
        (0, 1, 0, 0, 0, -1),  # sagittal
        (1, 0, 0, 0, 0, -1),  # coronal
        (0.8660254, 0.5, 0, -0.5, 0.8660254, 0),  # oblique in plane
    ],
)
def test_orientations_round_trip(tmp_path: Path, iop: tuple[float, ...]) -> None:
    write_ct_series(tmp_path / "s", StackSpec(iop=iop))
    ct = load_ct(tmp_path / "s")
    assert np.linalg.det(ct.volume.direction) == pytest.approx(1.0, abs=1e-6)
    _check_landmarks(ct.volume)


@pytest.mark.parametrize("tilt", [15.0, -22.0])
def test_gantry_tilt_resampled_onto_orthogonal_grid(tmp_path: Path, tilt: float) -> None:
    c, s = np.cos(np.radians(tilt)), np.sin(np.radians(tilt))
    write_ct_series(tmp_path / "s", StackSpec(iop=(1, 0, 0, 0, c, -s), tilt_deg=tilt))
    ct = load_ct(tmp_path / "s")
    d = ct.volume.direction
    np.testing.assert_allclose(d.T @ d, np.eye(3), atol=1e-9)  # orthogonal axes
    assert ct.info.resampled and ct.info.gantry_tilt_deg == pytest.approx(abs(tilt), abs=0.01)
    assert any(f"gantry tilt {abs(tilt):.1f} deg" in w for w in ct.warnings)
    _check_landmarks(ct.volume, tol=0.3)


def test_nonuniform_spacing_resampled_with_warning(tmp_path: Path) -> None:
    t = np.concatenate([np.arange(-24.0, 0.0, 1.0), np.arange(0.0, 24.01, 1.3)])
    write_ct_series(tmp_path / "s", StackSpec(normal_positions=tuple(t)))
    ct = load_ct(tmp_path / "s")
    assert ct.info.resampled
    assert any("non-uniform slice spacing (1.00 to 1.30 mm)" in w for w in ct.warnings)
    z = ct.volume.index_to_world(np.array([[0, 0, 0], [0, 0, ct.volume.shape[0] - 1]]))[:, 2]
    np.testing.assert_allclose(z, [t[0], t[-1]], atol=1e-6)  # both end slices kept
    _check_landmarks(ct.volume, tol=0.35)


def test_enhanced_multiframe_ct_with_shuffled_frames(tmp_path: Path) -> None:
    path = write_enhanced_ct(tmp_path / "enhanced.dcm", shuffle_frames=True, seed=5)
    ct = load_ct(path)
    assert ct.volume.shape == (49, 40, 44)
    _check_landmarks(ct.volume)
    # same through the folder
    ct2 = load_ct(tmp_path)
    np.testing.assert_array_equal(ct.volume.array, ct2.volume.array)


def test_single_file_loads_its_whole_series(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "s")
    write_ct_series(
        tmp_path / "s" / "other",
        StackSpec(normal_positions=tuple(np.arange(60.0))),
        description="OTHER",
    )
    ct = load_ct(paths[10])
    assert ct.volume.shape[0] == 49 and ct.info.description == "FOOT 1.0"


def test_float_rescale_gives_float32_and_per_slice_rescale(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "s", slope=0.5, intercept=-1024.0)
    ct = load_ct(tmp_path / "s")
    assert ct.volume.array.dtype == np.float32
    _check_landmarks(ct.volume)
    # per-slice rescale: rewrite one slice with another slope/intercept, same HU
    ds = pydicom.dcmread(paths[20])
    hu = ds.pixel_array.astype(float) * 0.5 - 1024.0
    ds.RescaleSlope, ds.RescaleIntercept = "1", "-2000"
    ds.PixelData = np.rint(hu + 2000).astype("<u2").tobytes()
    ds.save_as(paths[20])
    ct2 = load_ct(tmp_path / "s")
    np.testing.assert_allclose(ct2.volume.array, ct.volume.array, atol=0.5)


def test_signed_storage_and_int16_overflow_goes_float(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "a", signed=True, intercept=0.0)
    assert load_ct(tmp_path / "a").volume.array.dtype == np.int16
    # a metal pixel stored as 65535 with intercept -1024 is 64511 HU: beyond int16
    paths = write_ct_series(tmp_path / "b")
    ds = pydicom.dcmread(paths[3])
    px = ds.pixel_array.copy()
    px[0, 0] = 65535
    ds.PixelData = px.astype("<u2").tobytes()
    ds.save_as(paths[3])
    vol = load_ct(tmp_path / "b").volume
    assert vol.array.dtype == np.float32
    assert vol.array.max() == 64511.0 and vol.array.min() == -1000.0
    _check_landmarks(vol)


def test_identical_duplicate_files_dropped_with_warning(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "s")
    shutil.copy(paths[5], tmp_path / "s" / "copy_of_5")
    ct = load_ct(tmp_path / "s")
    assert ct.volume.shape[0] == 49
    assert any("duplicate" in w for w in ct.warnings)
    _check_landmarks(ct.volume)


def test_allow_gaps_interpolates_and_warns(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "s")
    paths[30].unlink()
    with pytest.raises(InputError, match="slices are missing: 2.00 mm gap"):
        load_ct(tmp_path / "s")
    ct = load_ct(tmp_path / "s", allow_gaps=True)
    assert ct.volume.shape[0] == 49
    assert any("gap(s) interpolated" in w for w in ct.warnings)


def test_series_uid_selects_among_several(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "thin", description="FOOT thin")
    write_ct_series(
        tmp_path / "thick",
        StackSpec(normal_positions=tuple(np.arange(-24, 25, 3.0))),
        description="FOOT thick",
        series_uid="1.2.3.4.5",
    )
    assert load_ct(tmp_path).info.description == "FOOT thin"
    assert load_ct(tmp_path, series_uid="1.2.3.4.5").info.description == "FOOT thick"


# ----------------------------------------------------------------- research volumes
@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_research_volume_round_trip(tmp_path: Path, suffix: str) -> None:
    ct = load_ct(write_ct_series_dir(tmp_path))
    out = tmp_path / f"vol{suffix}"
    sitk.WriteImage(ct.volume.to_sitk(), str(out))
    res = load_ct(out)
    assert res.info.source in ("nifti", "nrrd", "metaimage")
    np.testing.assert_array_equal(res.volume.array, ct.volume.array)
    np.testing.assert_allclose(res.volume.affine, ct.volume.affine, atol=1e-4)
    _check_landmarks(res.volume)


def write_ct_series_dir(tmp_path: Path) -> Path:
    write_ct_series(tmp_path / "src", StackSpec(iop=(0.8660254, 0.5, 0, -0.5, 0.8660254, 0)))
    return tmp_path / "src"


# ----------------------------------------------------------------- real data
@pytest.mark.realdata
def test_real_ge_tilted_nonuniform_positions_preserved(shared_data: Path) -> None:
    """Each acquired slice's bone lies where its header puts it, not stacked at one spacing."""
    folder = shared_data / "dcm_qa_ct" / "GE_head_tilt18.5_nonuniform"
    ct = load_ct(folder)
    vol = ct.volume
    assert ct.info.resampled and ct.info.gantry_tilt_deg == pytest.approx(18.5, abs=0.05)
    assert any("gantry tilt 18.5 deg (header says 18.5 deg)" in w for w in ct.warnings)
    assert any("non-uniform" in w for w in ct.warnings)
    d = vol.direction
    np.testing.assert_allclose(d.T @ d, np.eye(3), atol=1e-9)
    arr = np.asarray(vol.array, dtype=float)
    checked = 0
    for f in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(f)
        hdr = read_header(f)
        ipp = np.array(hdr.ImagePositionPatient, dtype=float)
        iop = np.array(hdr.ImageOrientationPatient, dtype=float)
        u, v = iop[:3], iop[3:]
        px = float(hdr.PixelSpacing[0])
        # normal position of this slice, and the output slice there (if on the grid)
        k = vol.world_to_index(ipp[None])[0][2]
        if abs(k - round(k)) > 0.02:
            continue
        img = ds.pixel_array.astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        bone = img > 300
        r, c = np.nonzero(bone)
        centroid = ipp + c.mean() * px * u + r.mean() * px * v  # from the header alone
        out = arr[int(round(k))] > 300
        jj, ii = np.nonzero(out)
        kk = np.full(ii.shape, round(k))
        centroid_vol = vol.index_to_world(np.column_stack([ii, jj, kk]).astype(float)).mean(axis=0)
        assert np.linalg.norm(centroid_vol - centroid) < 0.5, (f.name, centroid_vol, centroid)
        checked += 1
    assert checked >= 14  # the first 13 slices plus the last lie exactly on the grid...


@pytest.mark.realdata
def test_real_ge_not_stacked_at_one_spacing(shared_data: Path) -> None:
    folder = shared_data / "dcm_qa_ct" / "GE_head_tilt18.5_nonuniform"
    vol = load_ct(folder).volume
    first = read_header(folder / "01.dcm")
    last = read_header(folder / "28.dcm")
    n = np.cross(*np.array(first.ImageOrientationPatient, dtype=float).reshape(2, 3))
    span = (
        np.array(last.ImagePositionPatient, float) - np.array(first.ImagePositionPatient, float)
    ) @ n
    assert (vol.shape[0] - 1) * vol.spacing_mm[2] == pytest.approx(span, abs=1e-4)
    assert span == pytest.approx(13 * 4.0 + 1.08 + 13 * 7.0, abs=0.1)


@pytest.mark.realdata
def test_real_philips_dirfile_skipped(shared_data: Path) -> None:
    ct = load_ct(shared_data / "dcm_qa_ct" / "Philips_phantom_notilt_with_DIRFILE")
    assert ct.volume.shape == (28, 512, 512)
    assert not ct.info.resampled and ct.warnings == ()
    assert all(f.name != "DIRFILE" for f in ct.info.files)
    np.testing.assert_allclose(ct.volume.spacing_mm, [0.451171875, 0.451171875, 5.0], atol=1e-6)
    assert ct.volume.array.dtype == np.int16
