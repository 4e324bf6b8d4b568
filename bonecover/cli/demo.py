"""``bonecover demo``: the whole job on a built-in phantom, no data needed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from bonecover.cli import app
from bonecover.cli._common import handle_errors, setup_logging


@app.command()
@handle_errors
def demo(
    out: Path | None = typer.Option(None, "--out", help="New folder for the demo (default: a temporary folder)."),
    seed: int = typer.Option(0, "--seed", help="Phantom seed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors on stderr."),
) -> None:
    """Make a synthetic two-foot CT with a small wound and show its ground-truth coverage numbers.

    This version writes the phantom and its truth; the comparison (``bonecover compare``)
    is not part of this version yet.
    """
    from bonecover.cli.phantom import make_phantom_dir

    setup_logging(quiet)
    target = out if out is not None else Path(tempfile.mkdtemp(prefix="bonecover-demo-")) / "study"
    result = make_phantom_dir(target, seed=seed, layout="bilateral", affected="right", defect="small",
                              size="small", foot_rest=None)
    truth = result["study"].truth
    typer.echo(f"demo phantom written to {target} ({result['seconds']:.1f} s)")
    for name, path in result["paths"].items():
        typer.echo(f"  {name}: {path}")
    typer.echo(f"ground truth (affected = {truth['affected_side']} hallux, min cover {truth['min_cover_mm']} mm):")
    for side in ("affected", "healthy"):
        m = truth[side]
        typer.echo(
            f"  {side:8s} covered {m['covered_fraction']:.3f}  exposed {m['exposed_area_mm2']:.1f} mm2  "
            f"thickness mean {m['thickness_mm']['mean']:.2f} mm  soft tissue {m['soft_tissue_volume_ml']:.2f} mL  "
            f"bone {m['bone_volume_ml']:.2f} mL"
        )
    c = truth["comparison"]
    typer.echo(f"  coverage ratio {c['coverage_ratio']:.3f}  soft-tissue deficit {c['soft_tissue_deficit_ml']:.2f} mL  "
               f"thickness deficit mean {c['thickness_deficit_mm']['mean']:.2f} mm")
    typer.echo("the comparison itself (bonecover compare) is not in this version yet; see README")
