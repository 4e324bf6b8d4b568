"""``bonecover demo``: the whole job on a built-in phantom, no data needed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from bonecover.cli import app
from bonecover.cli._common import fail, handle_errors, setup_logging


@app.command()
@handle_errors
def demo(
    out: Path | None = typer.Option(None, "--out", help="New (or empty) folder for the demo (default: a temporary folder)."),
    seed: int = typer.Option(0, "--seed", help="Phantom seed."),
    no_figures: bool = typer.Option(False, "--no-figures", help="Write report.json only: no OUT/figures/ and no OUT/report.html."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors on stderr."),
) -> None:
    """Make a synthetic two-foot CT with a wound on the right hallux, run the comparison on it,
    and print the measured numbers beside the phantom's exact ground truth.

    Writes OUT/phantom/ (DICOM series and truth.json), OUT/report.json, OUT/figures/ and
    OUT/report.html, as ``bonecover compare`` does.
    """
    from bonecover.cli._progress import Progress
    from bonecover.cli.phantom import make_phantom_dir
    from bonecover.figures import draw_figures
    from bonecover.io.report_write import check_output_dir, write_outputs
    from bonecover.pipeline import CompareOptions, compare

    setup_logging(quiet=True)  # the demo prints its own summary
    target = check_output_dir(out if out is not None else Path(tempfile.mkdtemp(prefix="bonecover-demo-")))
    result = make_phantom_dir(target / "phantom", seed=seed, layout="bilateral", affected="right",
                              defect="small", size="small", foot_rest=None)
    truth = result["study"].truth
    with Progress(enabled=not quiet) as progress:
        report = compare(result["paths"]["both"], options=CompareOptions(affected_side="right"),
                         progress=progress.stage)
        if not no_figures:
            progress.stage("figures")
        doc, figure_error = write_outputs(report.document, target,
                                          draw=None if no_figures else lambda: draw_figures(report))
    outputs = "report.json" if no_figures else "report.json, report.html, figures/"
    typer.echo(f"demo written to {target}: phantom/ (CT series, truth.json), {outputs}")
    typer.echo(f"{'':34s}{'measured':>10s}{'truth':>10s}")
    rows = [
        ("affected covered fraction", doc["affected"]["covered_fraction"], truth["affected"]["covered_fraction"]),
        ("affected exposed area (mm2)", doc["affected"]["exposed_area_mm2"], truth["affected"]["exposed_area_mm2"]),
        ("affected thickness mean (mm)", doc["affected"]["thickness_mm"]["mean"], truth["affected"]["thickness_mm"]["mean"]),
        ("affected soft tissue (mL)", doc["affected"]["soft_tissue_volume_ml"], truth["affected"]["soft_tissue_volume_ml"]),
        ("healthy covered fraction", doc["healthy"]["covered_fraction"], truth["healthy"]["covered_fraction"]),
        ("healthy thickness mean (mm)", doc["healthy"]["thickness_mm"]["mean"], truth["healthy"]["thickness_mm"]["mean"]),
        ("coverage ratio", doc["comparison"]["coverage_ratio"], truth["comparison"]["coverage_ratio"]),
        ("soft-tissue deficit (mL)", doc["comparison"]["soft_tissue_deficit_ml"], truth["comparison"]["soft_tissue_deficit_ml"]),
        ("thickness deficit mean (mm)", doc["comparison"]["thickness_deficit_mm"]["mean"],
         truth["comparison"]["thickness_deficit_mm"]["mean"]),
    ]
    for name, measured, true in rows:
        typer.echo(f"  {name:32s}{measured:10.3f}{true:10.3f}")
    typer.echo(f"registration QA {doc['registration']['qa']} (hallux residual {doc['registration']['residual_mm']:.2f} mm); "
               f"took {sum(doc['timings_s'].values()):.1f} s after {result['seconds']:.1f} s making the phantom")
    if figure_error is not None:
        raise fail(f"{figure_error}; report.json was written. This is a bug, please report it", 1)
