"""``bonecover phantom``: write a synthetic CT study of both feet with exact ground truth."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from enum import Enum
from pathlib import Path

import typer

from bonecover.cli import app
from bonecover.cli._common import handle_errors, setup_logging
from bonecover.errors import InputError

log = logging.getLogger("bonecover.cli")


class Modality(str, Enum):
    ct = "ct"
    dx = "dx"


class Layout(str, Enum):
    bilateral = "bilateral"
    separate = "separate"


class Side(str, Enum):
    left = "left"
    right = "right"


class DefectKind(str, Enum):
    none = "none"
    small = "small"
    large = "large"


class Size(str, Enum):
    small = "small"
    clinical = "clinical"


def prepare_output_dir(out: Path) -> Path:
    """Refuse to write into a non-empty folder (nothing the user had is overwritten)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"output folder {out} already exists and is not empty; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def make_phantom_dir(out: Path, *, seed: int, layout: str, affected: str, defect: str, size: str,
                     foot_rest: bool | None) -> dict:
    """Generate a phantom into ``out`` atomically (a temporary sibling renamed at the end)."""
    from bonecover.phantom import PhantomConfig, make_phantom, write_phantom

    prepare_output_dir(out)
    config = PhantomConfig(seed=seed, layout=layout, affected=affected, defect=defect, size=size,
                           foot_rest=foot_rest)
    t0 = time.perf_counter()
    study = make_phantom(config)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        paths = write_phantom(study, tmp)
        if out.exists():
            out.rmdir()  # empty, checked above
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    elapsed = time.perf_counter() - t0
    size_bytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"study": study, "paths": {k: out / Path(v).relative_to(tmp) for k, v in paths.items()},
            "seconds": elapsed, "bytes": size_bytes}


@app.command()
@handle_errors
def phantom(
    out: Path = typer.Option(..., "--out", help="New folder to write the study into (must not exist or be empty)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: anatomy, pose, wound and noise."),
    modality: Modality = typer.Option(Modality.ct, "--modality", help="ct (radiograph 'dx' is not available yet)."),
    layout: Layout = typer.Option(Layout.bilateral, "--layout", help="One series with both feet, or one series per foot."),
    affected: Side = typer.Option(Side.right, "--affected", help="Side of the wounded foot."),
    defect: DefectKind = typer.Option(DefectKind.small, "--defect", help="Wound on the affected hallux: none (healed), small, large (also removes bone)."),
    size: Size = typer.Option(Size.small, "--size", help="small: ~0.6 mm forefeet (tests); clinical: 512x512 at 0.4-0.5 mm, fore- and midfeet."),
    foot_rest: bool | None = typer.Option(None, "--foot-rest/--no-foot-rest", help="Foot-rest plate and cushion under the soles (default: chosen by the seed)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors on stderr."),
) -> None:
    """Write a synthetic CT study of both feet (DICOM series) and its exact ground truth (truth.json)."""
    setup_logging(quiet)
    if modality is Modality.dx:
        raise InputError("--modality dx (radiograph phantom) is not available in this version; use --modality ct")
    result = make_phantom_dir(out, seed=seed, layout=layout.value, affected=affected.value,
                              defect=defect.value, size=size.value, foot_rest=foot_rest)
    for name, path in result["paths"].items():
        typer.echo(f"{name}: {path}")
    log.info("phantom written in %.1f s, %.1f MB", result["seconds"], result["bytes"] / 1e6)
