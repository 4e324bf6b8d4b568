"""Speed and memory of ``bonecover compare`` (load -> report, figures excluded), per stage.

Each run is a fresh process (peak resident memory is per run); the median of the
runs is reported. Phantom folders may be bilateral (``ct/``) or separate
(``ct_left/``, ``ct_right/``: the affected and the healthy series are both loaded).

``--scaling`` also times compare on one bilateral phantom resampled (linear, SimpleITK)
to a few isotropic voxel sizes, written as uncompressed NRRD, and fits
time = c * voxels^alpha (least squares in log-log), for the total and per stage.

Writes ``bench/results_compare.json`` and the "Comparison speed and memory" section of
BENCHMARKS.md.

    python bench/bench_compare.py                          # makes a clinical and a small phantom
    python bench/bench_compare.py --phantom DIR --runs 3   # existing phantom folder(s)
    python bench/bench_compare.py --phantom DIR --scaling 1.0,0.8,0.63,0.5,0.4 --scaling-runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SECTION = "Comparison speed and memory (issue 4)"

RUNNER = r"""
import json, sys, time
from bonecover.pipeline import CompareOptions, compare
affected, healthy, side, doc_out = sys.argv[1:5]
t0 = time.perf_counter()
report = compare(affected, None if healthy == "-" else healthy,
                 options=CompareOptions(affected_side=None if side == "-" else side))
total = time.perf_counter() - t0
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork + exec
peak_mb = next(float(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024.0
if doc_out != "-":
    open(doc_out, "w").write(report.to_json())
print(json.dumps({"total_s": total, "peak_rss_mb": peak_mb, "stages_s": report.document["timings_s"],
                  "qa": report.qa}))
"""


def make(size: str, seed: int, work: Path, layout: str = "bilateral") -> Path:
    out = work / f"phantom_{size}_{layout}"
    subprocess.run([sys.executable, "-m", "bonecover", "phantom", "--out", str(out), "--seed", str(seed),
                    "--size", size, "--layout", layout, "--defect", "small", "--quiet"], check=True)
    return out


def inputs(folder: Path, truth: dict) -> tuple[Path, Path | None, str]:
    """(affected input, healthy input or None, layout) of a phantom folder."""
    if (folder / "ct").is_dir():
        return folder / "ct", None, "bilateral"
    aff = truth["affected_side"]
    return folder / f"ct_{aff}", folder / f"ct_{'left' if aff == 'right' else 'right'}", "separate"


def run_compare(affected: Path, healthy: Path | None, side: str | None, runs: int,
                doc_out: Path | None = None) -> dict:
    """Median total / peak RSS / per-stage times of ``runs`` fresh-process compares."""
    results = []
    for i in range(runs):
        out = "-" if doc_out is None or i > 0 else str(doc_out)
        proc = subprocess.run([sys.executable, "-c", RUNNER, str(affected), str(healthy or "-"), side or "-", out],
                              capture_output=True, text=True, check=True)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    stages = sorted({k for r in results for k in r["stages_s"]}, key=lambda k: results[0]["stages_s"].get(k, 0))
    return {
        "runs": runs,
        "total_s_median": float(np.median([r["total_s"] for r in results])),
        "total_s_all": [round(r["total_s"], 2) for r in results],
        "peak_rss_mb_median": float(np.median([r["peak_rss_mb"] for r in results])),
        "stages_s_median": {k: float(np.median([r["stages_s"].get(k, 0.0) for r in results])) for k in stages},
        "qa": [r["qa"] for r in results],
    }


def bench(folder: Path, runs: int, doc_out: Path | None = None) -> dict:
    """Time compare on a phantom folder (bilateral or separate layout)."""
    truth = json.loads((folder / "truth.json").read_text())
    affected, healthy, layout = inputs(folder, truth)
    series = truth["series"]["both"] if layout == "bilateral" else truth["series"][truth["affected_side"]]
    row = {"phantom": folder.name, "size": truth["phantom"]["size"], "layout": layout,
           "shape_kji": series["shape_kji"], "spacing_mm": series["spacing_mm"],
           "load_average_at_start": os.getloadavg()[0]}
    row.update(run_compare(affected, healthy, truth["affected_side"] if healthy is None else None, runs, doc_out))
    if layout == "separate":
        other = truth["series"]["left" if truth["affected_side"] == "right" else "right"]
        row["healthy_shape_kji"] = other["shape_kji"]
    return row


def resampled(folder: Path, spacing_mm: float, work: Path) -> tuple[Path, list[int]]:
    """The bilateral phantom's CT resampled to isotropic ``spacing_mm`` (linear), as an NRRD file."""
    import SimpleITK as sitk

    from bonecover.io import load_ct

    image = load_ct(folder / "ct").volume.to_sitk()
    size = [max(2, int(round(n * s / spacing_mm))) for n, s in zip(image.GetSize(), image.GetSpacing(), strict=True)]
    out = sitk.Resample(image, size, sitk.Transform(), sitk.sitkLinear, image.GetOrigin(), (spacing_mm,) * 3,
                        image.GetDirection(), -1024.0, sitk.sitkInt16)
    path = work / f"scaled_{spacing_mm:.2f}mm.nrrd"
    sitk.WriteImage(out, str(path), useCompression=False)
    return path, size


def fit_exponent(voxels: list[float], seconds: list[float]) -> float:
    """alpha of seconds = c * voxels^alpha (least squares on logarithms)."""
    return float(np.polyfit(np.log(voxels), np.log(np.maximum(seconds, 1e-3)), 1)[0])


def scaling(folder: Path, spacings: list[float], runs: int, work: Path) -> dict:
    """Compare time and memory against the number of voxels, over resampled copies of one phantom."""
    truth = json.loads((folder / "truth.json").read_text())
    rows = []
    for s in spacings:
        path, size = resampled(folder, s, work)
        r = run_compare(path, None, truth["affected_side"], runs)
        r.update({"spacing_mm": s, "size_ijk": size, "voxels": int(np.prod(size)),
                  "load_average_at_start": os.getloadavg()[0]})
        rows.append(r)
        path.unlink()
        print(json.dumps({"scaling": s, "voxels": r["voxels"], "total_s": round(r["total_s_median"], 2)}),
              file=sys.stderr, flush=True)
    vox = [r["voxels"] for r in rows]
    stages = sorted({k for r in rows for k in r["stages_s_median"]})
    return {"phantom": folder.name, "rows": rows,
            "alpha_total": fit_exponent(vox, [r["total_s_median"] for r in rows]),
            "alpha_peak_rss": fit_exponent(vox, [r["peak_rss_mb_median"] for r in rows]),
            "alpha_stages": {k: fit_exponent(vox, [r["stages_s_median"].get(k, 0.0) for r in rows]) for k in stages}}


def _grid(shape_kji: list[int], spacing: list[float]) -> str:
    return (f"{shape_kji[2]}x{shape_kji[1]}x{shape_kji[0]} at "
            f"{spacing[0]:.2f}x{spacing[1]:.2f}x{spacing[2]:.2f} mm")


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [f"Measured {result['date']} with `{result['command']}`: {m['cpus']} cores, Python {m['python']}, "
             f"load average at start {m['load_average_at_start']:.1f}. Median of the runs, each a fresh process; "
             "load -> report.json, no figures; peak RSS of the process. Separate layout: two series loaded and "
             "split. Target (issue 4): clinical under 15 s and 3 GB.", "",
             "| input | layout | runs | total (each run) | peak RSS | per stage (s) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in result["cases"]:
        grid = _grid(r["shape_kji"], r["spacing_mm"])
        if r["layout"] == "separate":
            h = r.get("healthy_shape_kji", r["shape_kji"])
            grid = f"{r['size']}: {grid} + healthy {h[2]}x{h[1]}x{h[0]}"
        else:
            grid = f"{r['size']}: {grid}"
        lines.append(f"| {grid} | {r['layout']} | {r['runs']} | {r['total_s_median']:.1f} s "
                     f"({', '.join(f'{t:.1f}' for t in r['total_s_all'])}) | {r['peak_rss_mb_median']:.0f} MB | "
                     + ", ".join(f"{k} {v:.1f}" for k, v in r["stages_s_median"].items()) + " |")
    sc = result.get("scaling")
    if sc:
        lines += ["", f"**Scaling with input size**: phantom `{sc['phantom']}` resampled (linear) to isotropic "
                  f"voxels, written as NRRD; {sc['rows'][0]['runs']} run(s) each. Fitted time = c * voxels^alpha: "
                  f"**alpha = {sc['alpha_total']:.2f}** for the total (target: at most 1, no faster than linear), "
                  f"{sc['alpha_peak_rss']:.2f} for peak RSS; per stage "
                  + ", ".join(f"{k} {v:.2f}" for k, v in sc["alpha_stages"].items()) + ".", "",
                  "| voxel | grid | voxels | total | peak RSS | per stage (s) |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for r in sc["rows"]:
            lines.append(f"| {r['spacing_mm']:.2f} mm | {r['size_ijk'][0]}x{r['size_ijk'][1]}x{r['size_ijk'][2]} | "
                         f"{r['voxels'] / 1e6:.1f} M | {r['total_s_median']:.1f} s | {r['peak_rss_mb_median']:.0f} MB"
                         " | " + ", ".join(f"{k} {v:.1f}" for k, v in r["stages_s_median"].items()) + " |")
    return "\n".join(lines)


def benchmark(folders: list[Path], runs: int, command: str, *, scaling_phantom: Path | None = None,
              spacings: list[float] | None = None, scaling_runs: int = 1, doc_dir: Path | None = None) -> dict:
    """The whole compare benchmark as a results document."""
    result: dict = {"command": command, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "machine": platform.machine(), "load_average_at_start": os.getloadavg()[0]}}
    rows = []
    for f in folders:
        doc = None if doc_dir is None else doc_dir / f"report_{f.name}.json"
        rows.append(bench(f, runs, doc))
        if doc is not None:
            rows[-1]["report"] = str(doc)
        print(json.dumps({"compare": f.name, "total_s": round(rows[-1]["total_s_median"], 2)}), file=sys.stderr,
              flush=True)
    result["cases"] = rows
    if scaling_phantom is not None and spacings:
        with tempfile.TemporaryDirectory(prefix="bonecover-scale-") as tmp:
            result["scaling"] = scaling(scaling_phantom, spacings, scaling_runs, Path(tmp))
    result["machine"]["load_average_at_end"] = os.getloadavg()[0]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phantom", type=Path, action="append", help="phantom folder(s) to time")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scaling", default="", metavar="MM,MM,...",
                    help="isotropic voxel sizes for the scaling fit (on the first bilateral phantom)")
    ap.add_argument("--scaling-runs", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results_compare.json")
    ap.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bonecover-bench-"))
    folders = args.phantom or [make("clinical", 2, work), make("clinical", 2, work, "separate"),
                               make("small", 1, work), make("small", 1, work, "separate")]
    spacings = [float(s) for s in args.scaling.split(",") if s]
    scale_on = next((f for f in folders if (f / "ct").is_dir()), None)
    result = benchmark(folders, args.runs, "python bench/bench_compare.py " + " ".join(sys.argv[1:]),
                       scaling_phantom=scale_on, spacings=spacings, scaling_runs=args.scaling_runs)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    print(text)
    if not args.no_write:
        sys.path.insert(0, str(ROOT / "bench"))
        from _markdown import replace_section

        replace_section(SECTION, text)


if __name__ == "__main__":
    main()
