"""``bonecover compare``: hallux coverage of the affected foot vs the mirrored healthy foot."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bonecover.cli import app
from bonecover.cli._common import fail, handle_errors, setup_logging
from bonecover.errors import InputError

if TYPE_CHECKING:
    from bonecover.io.dicom_discovery import Inventory


class Side(str, Enum):
    left = "left"
    right = "right"


def _parse_point(text: str | None, n: int = 3, option: str = "--hallux-point") -> tuple[float, ...] | None:
    if text is None:
        return None
    parts = text.replace(" ", "").split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != n:
        what = "X,Y,Z in patient mm (LPS)" if n == 3 else "X,Y in detector mm on the radiograph (radiographs)"
        raise InputError(f"{option} needs {n} numbers {what}; got {text!r}")
    return values


def _point3(p: tuple[float, ...] | None) -> tuple[float, float, float] | None:
    return None if p is None else (p[0], p[1], p[2])


@app.command()
@handle_errors
def compare(
    affected: Path = typer.Argument(..., help="Affected foot (or both feet): DICOM file or folder, or NIfTI/NRRD/MHA."),
    healthy: Path | None = typer.Argument(None, help="Healthy foot, when it is a separate series."),
    out: Path = typer.Option(..., "--out", help="New (or empty) folder for report.json."),
    affected_side: Side | None = typer.Option(None, "--affected-side", help="Which foot is affected (needed when one input shows both feet)."),
    min_cover_mm: float = typer.Option(1.0, "--min-cover-mm", help="Bone covered by less soft tissue than this counts as exposed, mm."),
    shell_mm: float = typer.Option(5.0, "--shell-mm", help="Soft-tissue volume is measured within this distance of the bone surface, mm."),
    series: str | None = typer.Option(None, "--series", help="SeriesInstanceUID to analyse when the input holds several."),
    hallux_point: str | None = typer.Option(None, "--hallux-point", help="X,Y,Z (patient LPS mm) inside the affected distal phalanx, to override the automatic search (a viewer's patient coordinates of a point on the first toe's last bone; DICOM LPS: x to the patient's left, y to the back, z to the head); on a radiograph X,Y in detector mm from the centre of the top-left pixel (X to the right, Y down)."),
    healthy_hallux_point: str | None = typer.Option(None, "--healthy-hallux-point", help="CT only: X,Y,Z (patient LPS mm) inside the healthy foot's distal phalanx, when its automatic search fails."),
    pixel_spacing: float | None = typer.Option(None, "--pixel-spacing", help="Radiographs only: pixel spacing in mm to use when the header has none (the report says so)."),
    allow_gaps: bool = typer.Option(False, "--allow-gaps", help="Accept missing slices (interpolated) instead of refusing the series."),
    json_out: bool = typer.Option(False, "--json", help="Also print the report on stdout."),
    no_figures: bool = typer.Option(False, "--no-figures", help="Write report.json only: no OUT/figures/ and no OUT/report.html (faster)."),
    include_phi: bool = typer.Option(False, "--include-phi", help="Show the patient's name, ID and birth date in the figures and report.html (off by default)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors on stderr."),
) -> None:
    """Measure soft-tissue coverage of the hallux bones on the affected foot and on the mirrored,
    registered healthy foot, and compare them (CT). Writes OUT/report.json (schema bonecover.report/1),
    OUT/figures/*.png and OUT/report.html (one self-contained page). Exit code 3 when the registration QA
    fails (the report is still written)."""
    from bonecover.cli._progress import Progress
    from bonecover.io.report_write import check_output_dir, write_outputs
    from bonecover.pipeline import CompareOptions
    from bonecover.pipeline import compare as run_compare

    setup_logging(quiet)
    from bonecover.io import scan_input
    from bonecover.radiograph.pipeline import is_radiograph_input

    inventory = scan_input(affected)  # headers read once, for the choice and the loader
    if is_radiograph_input(affected, series, inventory):
        _compare_dx(affected, healthy, out, affected_side, min_cover_mm, shell_mm, series, hallux_point,
                    pixel_spacing, json_out, no_figures, quiet, include_phi, inventory)
        return
    options = CompareOptions(
        affected_side=None if affected_side is None else affected_side.value,
        min_cover_mm=min_cover_mm, shell_mm=shell_mm, series_uid=series,
        hallux_point_mm=_point3(_parse_point(hallux_point)),
        healthy_hallux_point_mm=_point3(_parse_point(healthy_hallux_point, option="--healthy-hallux-point")),
        allow_gaps=allow_gaps,
    )
    out_dir = check_output_dir(out)
    from bonecover.errors import AnalysisIncomplete
    from bonecover.figures import draw_figures, patient_fields
    from bonecover.io.report_write import write_report_json

    with Progress(enabled=not quiet) as progress:
        try:
            report = run_compare(affected, healthy, options, progress=progress.stage, inventory=inventory)
        except AnalysisIncomplete as exc:
            # pipelines and readers see where it stopped and why
            write_report_json(exc.document, out_dir)
            raise fail(f"{exc} (report.json in {out_dir} says where the analysis stopped)", 3) from None
        if not no_figures:
            progress.stage("figures")
        document, figure_error = write_outputs(
            report.document, out_dir, draw=None if no_figures else lambda: draw_figures(report, include_phi=include_phi),
            patient=patient_fields(report) if include_phi and not no_figures else None)
    if json_out:
        sys.stdout.write(json.dumps(document, indent=2, allow_nan=False) + "\n")
    _summary(document, out_dir, quiet)
    if figure_error is not None:
        raise fail(f"{figure_error}; report.json was written. This is a bug, please report it", 1)
    if report.qa == "fail":
        raise typer.Exit(3)


def _compare_dx(affected: Path, healthy: Path | None, out: Path, affected_side: Side | None, min_cover_mm: float,
                shell_mm: float, series: str | None, hallux_point: str | None, pixel_spacing: float | None,
                json_out: bool, no_figures: bool, quiet: bool, include_phi: bool = False,
                inventory: Inventory | None = None) -> None:
    """The same job on dorsoplantar radiographs (DX/CR input)."""
    from bonecover.cli._progress import Progress
    from bonecover.figures import patient_fields
    from bonecover.io.report_write import check_output_dir, write_outputs
    from bonecover.radiograph.figures import draw_dx_figures
    from bonecover.radiograph.pipeline import DXCompareOptions, compare_dx

    point = _parse_point(hallux_point, 2)
    options = DXCompareOptions(affected_side=None if affected_side is None else affected_side.value,
                               min_cover_mm=min_cover_mm, shell_mm=shell_mm, series_uid=series,
                               hallux_point_mm=None if point is None else (point[0], point[1]),
                               pixel_spacing_mm=pixel_spacing)
    out_dir = check_output_dir(out)
    with Progress(enabled=not quiet) as progress:
        report = compare_dx(affected, healthy, options, progress=progress.stage, inventory=inventory)
        if not no_figures:
            progress.stage("figures")
        document, figure_error = write_outputs(
            report.document, out_dir, draw=None if no_figures else lambda: draw_dx_figures(report),
            patient=patient_fields(report) if include_phi and not no_figures else None)
    if json_out:
        sys.stdout.write(json.dumps(document, indent=2, allow_nan=False) + "\n")
    if not quiet:
        a, h, c = document["affected"], document["healthy"], document["comparison"]
        print(f"bonecover: radiograph report written to {out_dir / 'report.json'}", file=sys.stderr)
        print(f"  affected ({document['affected_side']}) hallux: covered {a['covered_fraction']:.3f}, exposed outline "
              f"{a['exposed_contour_mm']:.1f} mm ({a['exposed_contour_band_mm']['low']:.1f}-"
              f"{a['exposed_contour_band_mm']['high']:.1f}), margin median {a['margin_mm']['median']:.2f} mm; healthy: covered "
              f"{h['covered_fraction']:.3f}, margin median {h['margin_mm']['median']:.2f} mm; coverage ratio "
              f"{c['coverage_ratio']:.3f}; registration QA {document['registration']['qa']}", file=sys.stderr)
    if figure_error is not None:
        raise fail(f"{figure_error}; report.json was written. This is a bug, please report it", 1)
    if report.qa == "fail":
        raise typer.Exit(3)


def _summary(doc: dict, out_dir: Path, quiet: bool) -> None:
    if quiet:
        return
    err = sys.stderr
    a, h, c = doc["affected"], doc["healthy"], doc["comparison"]
    html = " and report.html, figures/" if doc.get("figures") else ""
    print(f"bonecover: report written to {out_dir / 'report.json'}{html}", file=err)
    print(f"  affected ({doc['affected_side']}) hallux: covered {a['covered_fraction']:.3f}, exposed "
          f"{a['exposed_area_mm2']:.1f} mm2, thickness mean {a['thickness_mm']['mean']:.2f} mm", file=err)
    print(f"  healthy hallux (mirrored): covered {h['covered_fraction']:.3f}, exposed {h['exposed_area_mm2']:.1f} mm2, "
          f"thickness mean {h['thickness_mm']['mean']:.2f} mm", file=err)
    ratio = c["coverage_ratio"]
    print(f"  coverage ratio {ratio:.3f}, soft-tissue deficit {c['soft_tissue_deficit_ml']:.2f} mL, thickness "
          f"deficit mean {c['thickness_deficit_mm']['mean']:.2f} mm; registration QA {doc['registration']['qa']} "
          f"(residual {doc['registration']['residual_mm']:.2f} mm)", file=err)
