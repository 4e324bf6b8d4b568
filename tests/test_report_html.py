"""The HTML report (issue 5): self-contained, escaped, holds the key numbers of
report.json as shown, serves CT and radiograph (DX) documents, and renders in a browser."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from bonecover.report_html import HtmlFigure, format_value, render_report_html

#: A radiograph-mode document as SPEC describes it (2-D metric keys).
DX_DOC = {
    "schema": "bonecover.report/1", "bonecover_version": "0.1.0", "modality": "DX", "affected_side": "left",
    "min_cover_mm": 1.0, "shell_mm": 5.0,
    "inputs": {"affected": {"description": "FOOT DP LEFT", "date": "20250301", "modality": "DX",
                            "pixel_spacing_mm": [0.15, 0.15]},
               "healthy": {"description": "FOOT DP RIGHT", "date": "20250301", "modality": "DX"}},
    "affected": {"bone_contour_mm": 141.25, "margin_mm": {"mean": 3.456, "median": 3.2, "p05": 0.41, "p95": 6.9},
                 "exposed_contour_mm": 7.75, "covered_fraction": 0.94513, "soft_tissue_area_mm2": 512.34},
    "healthy": {"bone_contour_mm": 139.0, "margin_mm": {"mean": 4.1, "median": 4.0, "p05": 2.2, "p95": 7.0},
                "exposed_contour_mm": 0.0, "covered_fraction": 1.0, "soft_tissue_area_mm2": 601.0},
    "comparison": {"coverage_ratio": 0.94513, "soft_tissue_deficit_mm2": 88.66},
    "registration": {"qa": "warn", "residual_mm": 0.8},
    "figures": [], "warnings": ["magnification assumed 1.10"], "timings_s": {"load": 0.1},
}


def _numbers_shown(doc: dict) -> list[str]:
    """The key numbers of a CT report.json, formatted as the report shows them."""
    shown = []
    for role in ("affected", "healthy"):
        m = doc[role]
        shown += [format_value("covered_fraction", m["covered_fraction"]),
                  format_value("exposed_area_mm2", m["exposed_area_mm2"]),
                  format_value("soft_tissue_volume_ml", m["soft_tissue_volume_ml"])]
        shown += [format_value("thickness_mm", m["thickness_mm"][k]) for k in ("mean", "median", "p05", "p95")]
    c = doc["comparison"]
    shown += [format_value("coverage_ratio", c["coverage_ratio"]),
              format_value("soft_tissue_deficit_ml", c["soft_tissue_deficit_ml"]),
              format_value("thickness_deficit_mm", c["thickness_deficit_mm"]["mean"]),
              format_value("thickness_deficit_mm", c["thickness_deficit_mm"]["median"])]
    return shown


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


def assert_self_contained(page: str) -> None:
    """No network, no scripts: every resource is an embedded PNG."""
    assert "http://" not in page and "https://" not in page and "file:" not in page
    assert "url(" not in page.lower() and "@import" not in page.lower()
    parser = _Tags()
    parser.feed(page)
    tags = {t for t, _ in parser.tags}
    assert not tags & {"script", "link", "iframe", "object", "embed", "base", "svg"}, tags
    for tag, attrs in parser.tags:
        for key in ("src", "href", "srcset", "data", "poster", "background"):
            if key in attrs:
                assert tag == "img" and key == "src" and attrs[key].startswith("data:image/png;base64,"), (tag, key)
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)  # no event handlers


@pytest.mark.slow
def test_report_html_from_compare(figure_run) -> None:  # noqa: ANN001
    out, doc, _ = figure_run
    page = (out / "report.html").read_text(encoding="utf-8")
    assert_self_contained(page)
    written = json.loads((out / "report.json").read_text())
    for text in _numbers_shown(written):
        assert text in page, text
    assert f"QA {written['registration']['qa'].upper()}" in page
    assert written["inputs"]["affected"]["description"] in page
    assert page.count('src="data:image/png;base64,') == len(written["figures"]) == 4
    for rel in written["figures"]:  # the embedded images are the written files
        assert rel in page


def test_header_strings_are_escaped() -> None:
    doc = copy.deepcopy(DX_DOC)
    doc["inputs"]["affected"]["description"] = '<script>alert("x")</script> & <img src=x onerror=1>'
    doc["warnings"] = ["<b>bold</b> warning"]
    page = render_report_html(doc, [HtmlFigure('caption with <script> & "quotes"', b"\x89PNG fake")],
                              patient={"name": "DOE^<JOHN>", "patient_id": "ID&1"})
    assert "<script>" not in page and "<b>bold</b>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=1&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt; warning" in page
    assert "DOE^&lt;JOHN&gt;" in page and "ID&amp;1" in page
    assert_self_contained(page)


def test_no_patient_identifiers_unless_given() -> None:
    page = render_report_html(DX_DOC)
    assert "patient name" not in page.lower() and "Patient identifiers" not in page


def test_radiograph_document_uses_2d_keys() -> None:
    page = render_report_html(DX_DOC, [HtmlFigure("DP view with the bone outline", b"\x89PNG", "figures/dp.png")])
    for text in ("141.25 mm", "7.75 mm", "0.945", "3.46 mm", "512.3 mm²", "88.7 mm²", "Exposed outline length",
                 "QA WARN", "magnification assumed 1.10", "2025-03-01", "0.15 × 0.15 mm", "figures/dp.png"):
        assert text in page, text
    assert "Bone volume" not in page  # the CT rows are not used


def test_format_value() -> None:
    assert format_value("covered_fraction", 0.97135) == "0.971"
    assert format_value("exposed_area_mm2", 60.58) == "60.6 mm²"
    assert format_value("thickness_mm", 5.075) == "5.08 mm"
    assert format_value("soft_tissue_volume_ml", 13.5607) == "13.56 mL"
    assert format_value("exposed_area_mm2", None) == "—"


@pytest.mark.slow
def test_report_html_renders_in_chromium(figure_run, tmp_path: Path) -> None:  # noqa: ANN001
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    out, _, _ = figure_run
    shot = tmp_path / "shot.png"
    proc = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-background-networking", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'p'}",
                           f"--screenshot={shot}", "--window-size=1280,2400", (out / "report.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.is_file(), proc.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("L"), dtype=float)
    assert pixels.shape == (2400, 1280)
    non_white = float(np.mean(pixels < 235))
    assert pixels.std() > 20 and non_white > 0.08, (pixels.std(), non_white)
    # the figures were decoded and drawn: dark CT pixels (image background) cover a real area
    assert float(np.mean(pixels < 30)) > 0.01
