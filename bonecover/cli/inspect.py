"""``bonecover inspect PATH [--json]``: what a folder holds, and what would be analysed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from bonecover.cli import app
from bonecover.cli._common import handle_errors, setup_logging


@app.command("inspect")
@handle_errors
def inspect_command(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="PATH",
            help="A DICOM folder (searched recursively), a DICOM file, or a NIfTI/NRRD/MHA volume.",
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the inventory as JSON on stdout.")
    ] = False,
    series: Annotated[
        str | None,
        typer.Option("--series", help="Check that this series (UID or key) would be analysed."),
    ] = None,
    show_patient: Annotated[
        bool, typer.Option("--show-patient", help="Include patient name/ID (hidden by default).")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Also read the chosen series' pixel data as `compare` would, and report "
            "what loading finds (gaps, damaged files, resampling).",
        ),
    ] = False,
    allow_gaps: Annotated[
        bool,
        typer.Option("--allow-gaps", help="With --check: interpolate across missing slices."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.")
    ] = False,
) -> None:
    """List the studies and series under PATH and name the one `compare` would analyse.

    Reads headers only (no pixel data) unless --check is given. Exit code 2 when PATH
    is missing, holds no DICOM, holds nothing bonecover can analyse (no CT volume,
    no radiograph), or (with --check) the chosen series cannot be loaded.
    """
    setup_logging(quiet=quiet or as_json)
    from bonecover.io.ct_loader import is_research_volume

    if is_research_volume(path):
        from bonecover.io.research_volume import load_research_volume

        loaded = load_research_volume(path)
        payload = research_payload(path, loaded)
        _emit(payload, as_json)
        return

    from bonecover.errors import InputError
    from bonecover.io.dicom_discovery import discover

    inv = discover(path)
    error: InputError | None = None
    choice = None
    try:
        choice = inv.choose(series)
    except InputError as exc:
        error = exc
    payload = inventory_payload(inv, choice, include_patient=show_patient)
    if choice is not None and check:
        try:
            payload["check"] = check_load(path, inv, choice, allow_gaps=allow_gaps)
        except InputError as exc:
            error = exc
            payload["check"] = {"ok": False, "error": str(exc)}
    if as_json:
        _emit(payload, True)
    else:
        typer.echo(render_table(inv, choice, include_patient=show_patient))
        if payload.get("check", {}).get("ok"):
            typer.echo(render_check(payload["check"]))
    if error is not None:
        raise error


def check_load(path: Path, inv: Any, choice: Any, *, allow_gaps: bool) -> dict[str, Any]:
    """Load the chosen series as `compare` would; JSON-ready facts (raises InputError)."""
    if choice.modality == "CT":
        from bonecover.io.ct_loader import load_ct

        ct = load_ct(path, series_uid=choice.series.key, allow_gaps=allow_gaps, inventory=inv)
        vol = ct.volume
        return {
            "ok": True,
            "modality": "CT",
            "shape": list(vol.shape),
            "spacing_mm": [round(float(v), 6) for v in vol.spacing_mm],
            "origin_mm": [round(float(v), 4) for v in vol.origin_mm],
            "dtype": str(vol.array.dtype),
            "resampled": ct.info.resampled,
            "gantry_tilt_deg": round(ct.info.gantry_tilt_deg, 3),
            "load_seconds": round(ct.load_seconds, 3),
            "warnings": list(ct.warnings),
        }
    from bonecover.io.radiograph_loader import load_radiograph

    xr = load_radiograph(path, series_uid=choice.series.key, inventory=inv)
    return {
        "ok": True,
        "modality": "DX",
        "shape": list(xr.image.shape),
        "pixel_spacing_mm": list(xr.pixel_spacing_mm),
        "spacing_tag": xr.spacing_tag,
        "magnification": xr.magnification,
        "laterality": xr.laterality,
        "view_position": xr.view_position,
        "warnings": list(xr.warnings),
    }


def render_check(check: dict[str, Any]) -> str:
    """Plain-text lines for a successful --check."""
    if check["modality"] == "CT":
        nk, nj, ni = check["shape"]
        sp = " x ".join(f"{v:.3g}" for v in check["spacing_mm"])
        head = (
            f"check: loaded {nk} slices of {nj}x{ni}, voxels {sp} mm, {check['dtype']}"
            f"{', resampled' if check['resampled'] else ''} in {check['load_seconds']:.2f} s"
        )
    else:
        rows, cols = check["shape"]
        sp = " x ".join(f"{v:.3g}" for v in check["pixel_spacing_mm"])
        head = f"check: loaded radiograph {rows}x{cols}, pixels {sp} mm ({check['spacing_tag']})"
    return "\n".join([head, *(f"  warning: {w}" for w in check["warnings"])])


def _emit(payload: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(payload, indent=2, allow_nan=False))
    else:
        vol = payload["volume"]
        typer.echo(
            f"{payload['root']}: {vol['format']} volume, {vol['shape'][0]} slices of "
            f"{vol['shape'][1]}x{vol['shape'][2]}, spacing "
            f"{' x '.join(f'{v:.3g}' for v in vol['spacing_mm'])} mm, {vol['dtype']}"
        )
        typer.echo(f"compare would analyse: this volume (CT) -- {payload['chosen']['reason']}")


def research_payload(path: Path, loaded: Any) -> dict[str, Any]:
    """JSON-ready description of a research volume."""
    vol = loaded.volume
    return {
        "schema": "bonecover.inspect/1",
        "root": str(path),
        "volume": {
            "format": loaded.info.source,
            "shape": list(vol.shape),
            "spacing_mm": [float(v) for v in vol.spacing_mm],
            "origin_mm": [float(v) for v in vol.origin_mm],
            "direction": vol.direction.tolist(),
            "dtype": str(vol.array.dtype),
        },
        "series": [],
        "skipped": [],
        "chosen": {
            "key": None,
            "modality": "CT",
            "reason": "a research volume is analysed as given",
        },
        "warnings": list(loaded.warnings),
    }


def inventory_payload(inv: Any, choice: Any, *, include_patient: bool) -> dict[str, Any]:
    """JSON-ready inventory (schema ``bonecover.inspect/1``)."""
    return {
        "schema": "bonecover.inspect/1",
        "root": str(inv.root),
        "n_files": inv.n_files,
        "n_non_dicom": inv.n_non_dicom,
        "scan_seconds": round(inv.scan_seconds, 4),
        "series": [s.to_dict(include_patient=include_patient) for s in inv.series],
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in inv.skipped],
        "chosen": (
            {"key": choice.series.key, "modality": choice.modality, "reason": choice.reason}
            if choice is not None
            else None
        ),
    }


_COLUMNS = (
    "#",
    "study",
    "kind",
    "mod",
    "description",
    "date",
    "lat",
    "body part",
    "size",
    "spacing mm",
    "slices",
    "problems",
)


def render_table(inv: Any, choice: Any, *, include_patient: bool) -> str:
    """Plain-text table of the inventory, one row per series, and the choice."""
    study_no: dict[str, int] = {}
    for s in inv.series:
        study_no.setdefault(s.study_uid, len(study_no) + 1)
    rows = []
    for n, s in enumerate(inv.series, start=1):
        sp = ""
        if s.pixel_spacing_mm:
            sp = f"{s.pixel_spacing_mm[0]:.3g}x{s.pixel_spacing_mm[1]:.3g}"
            if s.slice_step_mm:
                sp += f"x{s.slice_step_mm:.3g}"
        mark = "*" if choice is not None and choice.series.key == s.key else " "
        rows.append(
            (
                f"{mark}{n}",
                f"S{study_no[s.study_uid]}",
                s.kind.replace("_", " "),
                s.modality,
                s.description[:28],
                s.date,
                s.laterality,
                s.body_part,
                f"{s.rows}x{s.cols}" if s.rows else "-",
                sp,
                str(s.n_slices),
                "; ".join(s.problems) or "-",
            )
        )
    widths = [
        max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(_COLUMNS)
    ]
    lines = [
        f"{inv.root}: {inv.n_files} file(s), {len(inv.series)} series, "
        f"{len(inv.skipped)} skipped, {inv.n_non_dicom} not DICOM "
        f"(header scan {inv.scan_seconds:.2f} s)"
    ]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    lines.append(fmt.format(*_COLUMNS))
    lines.extend(fmt.format(*r) for r in rows)
    lines.append("studies:")
    lines.extend(f"  S{n}: {uid or '?'}" for uid, n in study_no.items())
    lines.append("series keys:")
    for n, s in enumerate(inv.series, start=1):
        who = ""
        if include_patient:
            who = f"  patient {s.patient.name} ({s.patient.patient_id})"
        lines.append(f"  {n}: {s.key}{who}")
    for sk in inv.skipped:
        lines.append(f"skipped: {sk.path}: {sk.reason}")
    if choice is not None:
        idx = [s.key for s in inv.series].index(choice.series.key) + 1
        lines.append(f"compare would analyse: #{idx} ({choice.modality}) {choice.reason}")
    else:
        lines.append("compare would analyse: nothing (see the error below)")
    return "\n".join(lines)
