"""Redraw the example figures shown in the README (docs/figures/).

Usage: python docs/make_figure_examples.py PHANTOM_DIR OUT_DIR [--screenshot]

Runs the comparison on a phantom made with ``bonecover phantom`` (its ``ct/`` folder and
``truth.json``), draws the figure set exactly as ``bonecover compare`` does, and saves
it with a 256-colour palette (about a third of the size; the figures ``compare`` writes
are full-colour). With ``--screenshot`` it also renders report.html with headless
Chromium and keeps the top of the page.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

from bonecover.figures import draw_figures
from bonecover.pipeline import CompareOptions, compare
from bonecover.report_html import HtmlFigure, render_report_html


def small_png(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as im:
        dpi = im.info.get("dpi", (150, 150))
        pal = im.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        buf = io.BytesIO()
        pal.save(buf, format="png", optimize=True, dpi=dpi)
    return buf.getvalue()


def main(phantom: Path, out: Path, screenshot: bool) -> None:
    truth = json.loads((phantom / "truth.json").read_text())
    report = compare(phantom / "ct", options=CompareOptions(affected_side=truth["affected_side"]))
    figures = draw_figures(report)
    out.mkdir(parents=True, exist_ok=True)
    for f in figures:
        (out / f.name).write_bytes(small_png(f.png))
        print(f.name, f"{len(f.png) // 1024} kB -> {(out / f.name).stat().st_size // 1024} kB")
    if screenshot:
        exe = shutil.which("chromium")
        if exe is None:
            sys.exit("chromium not found")
        doc = {**report.document, "figures": [f.path for f in figures]}
        with tempfile.TemporaryDirectory() as tmp:
            page = Path(tmp) / "report.html"
            page.write_text(render_report_html(doc, [HtmlFigure(f.caption, f.png, f.path) for f in figures]))
            shot = Path(tmp) / "shot.png"
            subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            "--disable-background-networking", "--hide-scrollbars", f"--user-data-dir={tmp}/p",
                            f"--screenshot={shot}", "--window-size=1100,1500", page.as_uri()],
                           check=True, capture_output=True)
            buf = io.BytesIO()
            with Image.open(shot) as im:
                im.convert("RGB").save(buf, format="png")
            (out / "report_html.png").write_bytes(small_png(buf.getvalue()))
            print("report_html.png", f"{(out / 'report_html.png').stat().st_size // 1024} kB")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]), "--screenshot" in sys.argv[3:])
