"""Radiographs: bone bright whatever the photometric interpretation, spacing and its source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _dicom_factory import write_radiograph

from bonecover.io import load_radiograph


@pytest.mark.parametrize("photometric", ["MONOCHROME1", "MONOCHROME2"])
def test_bone_is_bright(tmp_path: Path, photometric: str) -> None:
    path, bone = write_radiograph(tmp_path / "dx.dcm", photometric=photometric)
    xr = load_radiograph(path)
    assert xr.image.shape == bone.shape and xr.image.dtype == np.float32
    assert xr.image[bone].min() > xr.image[~bone].max()
    assert xr.info.photometric == photometric
    assert any("MONOCHROME1 inverted" in w for w in xr.warnings) == (photometric == "MONOCHROME1")


def test_spacing_magnification_laterality_view(tmp_path: Path) -> None:
    path, _ = write_radiograph(
        tmp_path / "dx.dcm", spacing=(0.2, 0.15), magnification=1.25, laterality="R", view="AP"
    )
    xr = load_radiograph(tmp_path)
    assert xr.pixel_spacing_mm == (0.2, 0.15) and xr.spacing_tag == "ImagerPixelSpacing"
    assert xr.magnification == pytest.approx(1.25)
    assert xr.patient_spacing_mm == pytest.approx((0.16, 0.12))
    assert (xr.laterality, xr.view_position) == ("R", "AP")
    assert xr.info.modality == "DX" and "SYNTH" not in repr(xr.info)


def test_pixel_spacing_fallback_without_magnification(tmp_path: Path) -> None:
    path, _ = write_radiograph(
        tmp_path / "dx.dcm", spacing_tag="PixelSpacing", spacing=(0.1, 0.1), magnification=None
    )
    xr = load_radiograph(path)
    assert xr.spacing_tag == "PixelSpacing" and xr.magnification is None
    assert xr.patient_spacing_mm == (0.1, 0.1)


def test_radiograph_chosen_among_other_series(tmp_path: Path) -> None:
    from _dicom_factory import write_secondary_capture, write_structured_report

    write_structured_report(tmp_path / "sr.dcm")
    write_secondary_capture(tmp_path / "sc.dcm")
    write_radiograph(tmp_path / "dx.dcm", laterality="B")
    xr = load_radiograph(tmp_path)
    assert xr.laterality == "B" and xr.info.file.name == "dx.dcm"
