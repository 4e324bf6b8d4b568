"""``bonecover phantom``: write a synthetic CT study of both feet with exact ground truth."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path

import typer

from bonecover.cli import app
from bonecover.cli._common import handle_errors, setup_logging
from bonecover.errors import InputError
from bonecover.io.report_write import check_output_dir

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


class Position(str, Enum):
    FFS = "FFS"
    HFS = "HFS"


class DressingKind(str, Enum):
    none = "none"
    foil = "foil"
    gauze = "gauze"
    dense = "dense"


class DressingSite(str, Enum):
    hallux = "hallux"
    forefoot = "forefoot"


def parse_range_deg(text: str | None, option: str) -> tuple[float, float] | None:
    """``"30,60"`` -> (30.0, 60.0); ``"45"`` -> (45.0, 45.0); None stays None."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise InputError(f"{option} takes MIN,MAX in degrees (e.g. 30,60) or one angle; got {text!r}")
    return values[0], values[1]


def _publish(out: Path, write: Callable[[Path], dict]) -> tuple[Path, dict]:
    """Write into a temporary sibling of ``out`` (checked empty), then rename it into place.

    Returns the temporary folder's old name (for paths relative to it) and ``write``'s result.
    """
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        paths = write(tmp)
        if out.exists():
            out.rmdir()  # empty, checked by the caller
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp, paths


def make_phantom_dir(out: Path, *, seed: int, layout: str, affected: str, defect: str, size: str,
                     foot_rest: bool | None, patient_position: str = "FFS", voxel_mm: float | None = None,
                     slice_mm: float | None = None, origin_at_zero: bool = False,
                     plantar_flexion_deg: tuple[float, float] | None = None, stack_from_toe_tips: bool = False,
                     toes_touching: bool = False, dressing: str = "none", dressing_site: str = "hallux") -> dict:
    """Generate a phantom into ``out`` atomically (a temporary sibling renamed at the end).

    The keyword options are those of :class:`bonecover.phantom.PhantomConfig`.
    """
    from bonecover.phantom import PhantomConfig, make_phantom, write_phantom

    config = PhantomConfig(seed=seed, layout=layout, affected=affected, defect=defect, size=size,
                           foot_rest=foot_rest, patient_position=patient_position, voxel_mm=voxel_mm,
                           slice_mm=slice_mm, origin_at_zero=origin_at_zero,
                           plantar_flexion_deg=plantar_flexion_deg, stack_from_toe_tips=stack_from_toe_tips,
                           toes_touching=toes_touching, dressing=dressing, dressing_site=dressing_site)
    check_output_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    study = make_phantom(config)
    tmp, paths = _publish(out, lambda folder: write_phantom(study, folder))
    elapsed = time.perf_counter() - t0
    size_bytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"study": study, "paths": {k: out / Path(v).relative_to(tmp) for k, v in paths.items()},
            "seconds": elapsed, "bytes": size_bytes}


@app.command()
@handle_errors
def phantom(
    out: Path = typer.Option(..., "--out", help="New folder to write the study into (must not exist or be empty)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: anatomy, pose, wound and noise."),
    modality: Modality = typer.Option(Modality.ct, "--modality", help="ct (CT series) or dx (dorsoplantar radiograph(s), DX DICOM, with 2-D truth)."),
    monochrome1: bool | None = typer.Option(None, "--monochrome1/--monochrome2", help="dx only: photometric interpretation (default: chosen by the seed)."),
    pixel_mm: float | None = typer.Option(None, "--pixel-mm", help="dx only: detector pixel spacing (ImagerPixelSpacing), mm (default: drawn 0.1-0.2)."),
    magnification: float | None = typer.Option(None, "--magnification", help="dx only: radiographic magnification (default: drawn 1.05-1.2)."),
    layout: Layout = typer.Option(Layout.bilateral, "--layout", help="One series with both feet, or one series per foot."),
    affected: Side = typer.Option(Side.right, "--affected", help="Side of the wounded foot."),
    defect: DefectKind = typer.Option(DefectKind.small, "--defect", help="Wound on the affected hallux: none (healed), small, large (also removes bone)."),
    size: Size = typer.Option(Size.small, "--size", help="small: ~0.6 mm forefeet (tests); clinical: 512x512 at 0.4-0.5 mm, fore- and midfeet."),
    foot_rest: bool | None = typer.Option(None, "--foot-rest/--no-foot-rest", help="Foot-rest plate and cushion under the soles (default: chosen by the seed)."),
    patient_position: Position = typer.Option(Position.FFS, "--patient-position", case_sensitive=False, help="FFS (feet first supine, rows run to patient right) or HFS (head first supine, ImageOrientationPatient 1,0,0,0,1,0). The feet stay in place; the grid and the tags change."),
    voxel_mm: float | None = typer.Option(None, "--voxel-mm", help="In-plane pixel spacing in mm (default: drawn for the size, about 0.6 small, 0.4-0.55 clinical)."),
    slice_mm: float | None = typer.Option(None, "--slice-mm", help="Slice spacing and thickness in mm (default: drawn for the size)."),
    origin_zero: bool = typer.Option(False, "--origin-zero/--no-origin-zero", help="Move the scene (feet and truth) so that each series' first voxel is at 0,0,0 mm."),
    plantar_flexion: str | None = typer.Option(None, "--plantar-flexion-deg", metavar="MIN,MAX", help="Whole-foot plantar flexion range in degrees, drawn per foot (e.g. 30,60: foot long axis near the scanner axis). Default: within +-15."),
    stack_from_toe_tips: bool = typer.Option(False, "--stack-from-toe-tips", help="Start the series at the lowest tissue (the toe tips of plantar-flexed feet), no air margin, slices running headwards."),
    toes_touching: bool = typer.Option(False, "--toes-touching", help="Hallux leaning on the second toe: their soft tissues merge into one body."),
    dressing: DressingKind = typer.Option(DressingKind.none, "--dressing", help="Wrap around the affected hallux, outside the body: foil (0.3-0.5 mm, 200-2000 HU), gauze (2-4 mm, -600 to -200 HU) or dense (0.8-1.5 mm, 600-2000 HU). The truth does not change."),
    dressing_site: DressingSite = typer.Option(DressingSite.hallux, "--dressing-site", help="Where the dressing is: around the hallux alone, or around the whole forefoot and toes."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors on stderr."),
) -> None:
    """Write a synthetic CT study of both feet (DICOM series) and its exact ground truth (truth.json)."""
    setup_logging(quiet)
    if modality is Modality.dx:
        _phantom_dx(out, seed, layout.value, affected.value, defect.value, monochrome1, pixel_mm, magnification)
        return
    result = make_phantom_dir(out, seed=seed, layout=layout.value, affected=affected.value,
                              defect=defect.value, size=size.value, foot_rest=foot_rest,
                              patient_position=patient_position.value, voxel_mm=voxel_mm, slice_mm=slice_mm,
                              origin_at_zero=origin_zero,
                              plantar_flexion_deg=parse_range_deg(plantar_flexion, "--plantar-flexion-deg"),
                              stack_from_toe_tips=stack_from_toe_tips, toes_touching=toes_touching,
                              dressing=dressing.value, dressing_site=dressing_site.value)
    for name, path in result["paths"].items():
        typer.echo(f"{name}: {path}")
    log.info("phantom written in %.1f s, %.1f MB", result["seconds"], result["bytes"] / 1e6)


def _phantom_dx(out: Path, seed: int, layout: str, affected: str, defect: str, monochrome1: bool | None,
                pixel_mm: float | None, magnification: float | None) -> None:
    """``--modality dx``: dorsoplantar radiograph(s) of the phantom feet, written atomically."""
    from bonecover.radiograph.phantom_dx import DXPhantomConfig, make_dx_phantom, write_dx_phantom

    config = DXPhantomConfig(seed=seed, layout=layout, affected=affected, defect=defect, monochrome1=monochrome1,
                             pixel_mm=pixel_mm, magnification=magnification)
    check_output_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    study = make_dx_phantom(config)
    tmp, paths = _publish(out, lambda folder: write_dx_phantom(study, folder))
    for name, path in paths.items():
        typer.echo(f"{name}: {out / Path(path).relative_to(tmp)}")
    log.info("radiograph phantom written in %.1f s", time.perf_counter() - t0)
