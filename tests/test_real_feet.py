"""The comparison on a real CT of both feet (NLM Visible Human Female, 1 mm, ../shared/data/vhf_feet).

The two feet touch and, at 1 mm, each foot's bones form one connected object: the
cases the phantom used to hide. Landmarks were read off the images by eye (sagittal
slices x = 211 mm and x = 266 mm, 1 mm grid, window -300..1200 HU): the distal end of
each distal phalanx's bone, patient LPS mm. No wound: both halluces are healthy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.realdata

#: Hallux tips read off the images (see module docstring), LPS mm.
TIP_MM = {"right": np.array([211.0, 158.5, 9.5]), "left": np.array([266.0, 144.0, 17.5])}


@pytest.fixture(scope="module")
def reports(vhf_feet: Path):  # noqa: ANN201
    from bonecover.pipeline import CompareOptions, compare

    return {side: compare(vhf_feet, options=CompareOptions(affected_side=side)) for side in ("left", "right")}


def test_touching_feet_are_cut_apart_on_their_sides(reports) -> None:  # noqa: ANN001
    doc = reports["left"].document
    assert doc["affected_side"] == "left"
    assert "touch" in doc["inputs"]["affected"]["foot_side_from"]
    assert "higher patient x" in doc["inputs"]["affected"]["foot_side_from"]
    assert "lower patient x" in doc["inputs"]["healthy"]["foot_side_from"]


def test_both_halluces_found_at_the_landmarks(reports) -> None:  # noqa: ANN001
    for side, report in reports.items():
        for role in ("affected", "healthy"):
            bones = report.extras[f"{role}_hallux"]
            foot = side if role == "affected" else ("right" if side == "left" else "left")
            assert np.linalg.norm(bones.frame.tip_mm - TIP_MM[foot]) < 3.0, (side, role, bones.frame.tip_mm)
            ip, mtp = bones.joints_from_tip_mm
            # an adult hallux: distal phalanx 15-35 mm, proximal phalanx 18-40 mm
            assert ip is not None and 15.0 < ip < 35.0, (foot, ip)
            assert 18.0 < mtp - ip < 40.0, (foot, ip, mtp)
            assert "joint" in report.document[role]["hallux"]["found_by"]


def test_healthy_halluces_compare_as_healthy(reports) -> None:  # noqa: ANN001
    for side, report in reports.items():
        doc = report.document
        assert report.qa in ("pass", "warn"), (side, doc["registration"])
        assert doc["registration"]["residual_mm"] < 0.8, side
        for role in ("affected", "healthy"):
            assert doc[role]["exposed_area_mm2"] <= 15.0, (side, role, doc[role]["exposed_area_mm2"])
        assert abs(doc["comparison"]["coverage_ratio"] - 1.0) <= 0.05, side
        a, h = doc["affected"]["bone_volume_ml"], doc["healthy"]["bone_volume_ml"]
        assert abs(a - h) / (0.5 * (a + h)) <= 0.15, (side, a, h)


def test_sides_swap_symmetrically(reports) -> None:  # noqa: ANN001
    left, right = reports["left"].document, reports["right"].document
    for key in ("bone_volume_ml", "exposed_area_mm2", "soft_tissue_volume_ml"):
        assert left["affected"][key] == pytest.approx(right["healthy"][key], rel=1e-6), key


def test_a_hallux_point_names_the_toe(reports, vhf_feet: Path) -> None:  # noqa: ANN001
    """--hallux-point and --healthy-hallux-point pick the toe; the joints are still found."""
    from bonecover.pipeline import CompareOptions, compare

    auto = reports["left"]
    # a point inside each distal phalanx, 6 mm back from the tip along the hallux axis
    a_point = auto.extras["affected_hallux"].frame.tip_mm - 6.0 * auto.extras["affected_hallux"].frame.axis
    h_point = auto.extras["healthy_hallux"].frame.tip_mm - 6.0 * auto.extras["healthy_hallux"].frame.axis
    report = compare(vhf_feet, options=CompareOptions(affected_side="left", hallux_point_mm=tuple(a_point),
                                                      healthy_hallux_point_mm=tuple(h_point)))
    assert "--hallux-point" in report.document["affected"]["hallux"]["found_by"]
    assert "--healthy-hallux-point" in report.document["healthy"]["hallux"]["found_by"]
    assert report.document["affected"]["bone_volume_ml"] == pytest.approx(
        auto.document["affected"]["bone_volume_ml"], rel=0.05)


def _per_foot_series(vhf_feet: Path, out: Path, right_below_x_mm: float, left_from_x_mm: float) -> tuple[Path, Path]:
    """The real scan cut by hand into one DICOM series per foot at sagittal planes (Laterality set)."""
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    series = {"R": generate_uid(), "L": generate_uid()}
    for path in sorted(vhf_feet.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array
        x0, dx = float(ds.ImagePositionPatient[0]), float(ds.PixelSpacing[1])
        cuts = {"R": slice(0, int(round((right_below_x_mm - x0) / dx))),
                "L": slice(int(round((left_from_x_mm - x0) / dx)), pixels.shape[1])}
        for lat, cols in cuts.items():
            part = ds.copy()
            block = np.ascontiguousarray(pixels[:, cols])
            part.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            part.PixelData, part.Columns = block.tobytes(), block.shape[1]
            part.ImagePositionPatient = [x0 + cols.start * dx, *[float(v) for v in ds.ImagePositionPatient[1:]]]
            part.Laterality, part.SeriesInstanceUID = lat, series[lat]
            part.SOPInstanceUID = part.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            (out / lat).mkdir(parents=True, exist_ok=True)
            part.save_as(out / lat / path.name, enforce_file_format=True)
    return out / "L", out / "R"


def test_per_foot_series_cut_from_the_scan(vhf_feet: Path, reports, tmp_path: Path) -> None:  # noqa: ANN001
    """One series per foot, each exported with a margin that holds the edge of the other foot."""
    from bonecover.pipeline import compare

    left, right = _per_foot_series(vhf_feet, tmp_path, right_below_x_mm=255.0, left_from_x_mm=240.0)
    doc = compare(left, right).document
    whole = reports["left"].document
    assert doc["affected_side"] == "left" and doc["registration"]["qa"] == "pass"
    for role in ("affected", "healthy"):
        assert doc[role]["hallux"]["joints_from_tip_mm"] == whole[role]["hallux"]["joints_from_tip_mm"], role
        assert doc[role]["bone_volume_ml"] == pytest.approx(whole[role]["bone_volume_ml"], rel=0.02), role
        assert doc[role]["exposed_area_mm2"] <= 15.0
    assert any("other foot" in w for w in doc["warnings"])
    assert not any(str(tmp_path) in w for w in doc["warnings"])  # no paths in the report
