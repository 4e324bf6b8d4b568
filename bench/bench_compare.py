"""Speed and memory of ``bonecover compare`` (load -> report, figures excluded), per stage.

Each run is a fresh process (peak resident memory is per run); the median of the
runs is reported. Writes ``bench/results_compare.json`` and prints a Markdown table.

    python bench/bench_compare.py                          # makes a clinical and a small phantom
    python bench/bench_compare.py --phantom DIR --runs 3   # an existing phantom folder (ct/ inside)
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

RUNNER = r"""
import json, resource, sys, time
from bonecover.pipeline import CompareOptions, compare
t0 = time.perf_counter()
report = compare(sys.argv[1], options=CompareOptions(affected_side=sys.argv[2]))
total = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({"total_s": total, "peak_rss_mb": peak_mb, "stages_s": report.document["timings_s"],
                  "qa": report.qa}))
"""


def make(size: str, seed: int, work: Path) -> Path:
    out = work / f"phantom_{size}"
    subprocess.run([sys.executable, "-m", "bonecover", "phantom", "--out", str(out), "--seed", str(seed),
                    "--size", size, "--defect", "small", "--quiet"], check=True)
    return out


def bench(folder: Path, runs: int) -> dict:
    truth = json.loads((folder / "truth.json").read_text())
    results = []
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-c", RUNNER, str(folder / "ct"), truth["affected_side"]],
                              capture_output=True, text=True, check=True)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    stages = sorted({k for r in results for k in r["stages_s"]}, key=lambda k: results[0]["stages_s"].get(k, 0))
    series = truth["series"]["both"]
    return {
        "phantom": str(folder), "shape_kji": series["shape_kji"], "spacing_mm": series["spacing_mm"],
        "runs": runs,
        "total_s_median": float(np.median([r["total_s"] for r in results])),
        "peak_rss_mb_median": float(np.median([r["peak_rss_mb"] for r in results])),
        "stages_s_median": {k: float(np.median([r["stages_s"].get(k, 0.0) for r in results])) for k in stages},
        "qa": [r["qa"] for r in results],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phantom", type=Path, action="append", help="phantom folder(s) to time")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results_compare.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bonecover-bench-"))
    folders = args.phantom or [make("clinical", 2, work), make("small", 1, work)]
    rows = [bench(f, args.runs) for f in folders]
    result = {"command": "python bench/bench_compare.py " + " ".join(sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
                          "load_average_at_start": os.getloadavg()[0]},
              "cases": rows}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"Measured {result['date']} with `{result['command']}`: {os.cpu_count()} cores, Python "
             f"{platform.python_version()}, load average at start {result['machine']['load_average_at_start']:.1f}. "
             f"Median of {args.runs} runs, each a fresh process; load -> report.json, no figures. Target (issue 4): "
             "clinical under 15 s and 3 GB.", "",
             "| input | total | peak RSS | per stage (s) |", "| --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['shape_kji'][2]}x{r['shape_kji'][1]}x{r['shape_kji'][0]} at "
                     f"{r['spacing_mm'][0]:.2f}x{r['spacing_mm'][1]:.2f}x{r['spacing_mm'][2]:.2f} mm | "
                     f"{r['total_s_median']:.1f} s | {r['peak_rss_mb_median']:.0f} MB | "
                     + ", ".join(f"{k} {v:.1f}" for k, v in r["stages_s_median"].items()) + " |")
    print("\n".join(lines))
    sys.path.insert(0, str(ROOT / "bench"))
    from _markdown import replace_section

    replace_section("Comparison speed and memory (issue 4)", "\n".join(lines))


if __name__ == "__main__":
    main()
