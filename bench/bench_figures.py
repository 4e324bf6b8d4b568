"""Speed and memory of the comparison figures (issue 5: the whole set in <= 5 s on a
clinical-size case), per figure.

The comparison runs once in its own process and hands its Report over in a pickle; a
fresh process then loads it and draws the figure set ``--runs`` times: the first run is
the cold one a ``bonecover compare`` call pays (matplotlib import, font cache, first
use of every code path), the median of the others the warm one. Wall and CPU time are
both recorded: the machine is shared, and CPU time is what load does not inflate.
Also timed: report.html (render + base64). Writes ``bench/results_figures.json`` and
the "Figure generation speed" section of BENCHMARKS.md.

    python bench/bench_figures.py                        # makes a clinical phantom (~60 s)
    python bench/bench_figures.py --phantom DIR --runs 4 # an existing phantom folder (ct/ inside)
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

ROOT = Path(__file__).resolve().parents[1]

COMPARE = r"""
import pickle, sys
from bonecover.pipeline import CompareOptions, compare
report = compare(sys.argv[1], options=CompareOptions(affected_side=sys.argv[2]))
with open(sys.argv[3], "wb") as f:
    pickle.dump(report, f, protocol=pickle.HIGHEST_PROTOCOL)
"""

FIGURES = r"""
import json, os, pickle, resource, sys, time
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
with open(sys.argv[1], "rb") as f:
    report = pickle.load(f)
base_mb = rss_mb()
t_import = time.perf_counter()
from bonecover.figures import draw_figures
from bonecover.report_html import HtmlFigure, render_report_html
import_s = time.perf_counter() - t_import
runs = []
for _ in range(int(sys.argv[2])):
    w, c = time.perf_counter(), time.process_time()
    figs = draw_figures(report)
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    h = time.perf_counter()
    page = render_report_html(report.document, [HtmlFigure(f.caption, f.png, f.path) for f in figs])
    runs.append({"wall_s": wall, "cpu_s": cpu, "html_s": time.perf_counter() - h, "html_bytes": len(page),
                 "figures": {f.name: {"s": f.seconds, "bytes": len(f.png)} for f in figs},
                 "load_average": os.getloadavg()[0]})
print(json.dumps({"import_s": import_s, "base_rss_mb": base_mb, "runs": runs,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
"""


def median(values: list[float]) -> float:
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def make(work: Path, seed: int) -> Path:
    out = work / "phantom_clinical"
    subprocess.run([sys.executable, "-m", "bonecover", "phantom", "--out", str(out), "--seed", str(seed),
                    "--size", "clinical", "--defect", "small", "--quiet"], check=True)
    return out


def bench(folder: Path, runs: int, work: Path) -> dict:
    truth = json.loads((folder / "truth.json").read_text())
    pkl = work / "report.pkl"
    subprocess.run([sys.executable, "-c", COMPARE, str(folder / "ct"), truth["affected_side"], str(pkl)], check=True)
    proc = subprocess.run([sys.executable, "-c", FIGURES, str(pkl), str(runs)], capture_output=True, text=True,
                          check=True)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    cold, warm = res["runs"][0], res["runs"][1:] or res["runs"][:1]
    names = list(cold["figures"])
    series = truth["series"]["both"]
    return {
        "phantom": str(folder), "shape_kji": series["shape_kji"], "spacing_mm": series["spacing_mm"], "runs": runs,
        "import_s": res["import_s"],
        "cold": {"wall_s": cold["wall_s"], "cpu_s": cold["cpu_s"], "load_average": cold["load_average"],
                 "per_figure_s": {n: cold["figures"][n]["s"] for n in names}},
        "warm_median": {"wall_s": median([r["wall_s"] for r in warm]), "cpu_s": median([r["cpu_s"] for r in warm]),
                        "per_figure_s": {n: median([r["figures"][n]["s"] for r in warm]) for n in names},
                        "html_s": median([r["html_s"] for r in warm])},
        "load_average_per_run": [r["load_average"] for r in res["runs"]],
        "png_kb": {n: cold["figures"][n]["bytes"] / 1024.0 for n in names},
        "html_kb": cold["html_bytes"] / 1024.0,
        "rss_mb": {"report_loaded": res["base_rss_mb"], "peak": res["peak_rss_mb"]},
    }


def section(result: dict) -> list[str]:
    """The BENCHMARKS.md section's lines from a results document."""
    r = result["case"]
    shape, sp = r["shape_kji"], r["spacing_mm"]
    per = ", ".join(f"{n.removesuffix('.png')} {r['warm_median']['per_figure_s'][n]:.2f}"
                    for n in r["warm_median"]["per_figure_s"])
    per_cold = ", ".join(f"{n.removesuffix('.png')} {v:.2f}" for n, v in r["cold"]["per_figure_s"].items())
    cold_wall, cold_cpu = r["cold"]["wall_s"] + r["import_s"], r["cold"]["cpu_s"] + r["import_s"]
    verdict = ("yes" if cold_wall <= 5.0 else
               f"not in wall time under this load ({cold_wall:.1f} s); in CPU time yes ({cold_cpu:.1f} s), which is "
               "about the wall time on an idle machine" if cold_cpu <= 5.0 else f"NO ({cold_cpu:.1f} s of CPU)")
    loads = ", ".join(f"{v:.1f}" for v in r["load_average_per_run"])
    lines = [
        f"Measured {result['date']} with `{result['command']}`: {result['machine']['cpus']} cores, Python "
        f"{result['machine']['python']}; load average (1 min) {result['machine']['load_average_at_start']:.1f} at "
        f"the start and {loads} after each run: other jobs shared the 2 cores, so wall times are inflated and CPU "
        "time is the better guide to an idle machine. One process draws the set "
        f"{r['runs']} times from a pickled Report (the comparison is not timed here); the first run is the cold "
        "one `bonecover compare` pays. Target (issue 5): the whole set in at most 5 s on a clinical-size case.", "",
        f"Case: clinical phantom {shape[2]}x{shape[1]}x{shape[0]} at {sp[0]:.2f}x{sp[1]:.2f}x{sp[2]:.2f} mm, "
        "small wound.", "",
        "| what | result |", "| --- | --- |",
        f"| whole set, cold (first run, + {r['import_s']:.2f} s importing matplotlib and the figure modules) | "
        f"{r['cold']['wall_s']:.2f} s wall, {r['cold']['cpu_s']:.2f} s CPU |",
        f"| whole set, warm (median of {max(r['runs'] - 1, 1)}) | {r['warm_median']['wall_s']:.2f} s wall, "
        f"{r['warm_median']['cpu_s']:.2f} s CPU |",
        f"| per figure, cold (s wall) | {per_cold} |",
        f"| per figure, warm median (s wall) | {per} |",
        f"| report.html (render, base64) | {r['warm_median']['html_s'] * 1000:.0f} ms, {r['html_kb']:.0f} kB |",
        "| PNG sizes (150 dpi) | " + ", ".join(f"{n.removesuffix('.png')} {v:.0f} kB" for n, v in r["png_kb"].items())
        + " |",
        f"| memory | {r['rss_mb']['report_loaded']:.0f} MB with the Report loaded, peak {r['rss_mb']['peak']:.0f} MB "
        "(the comparison itself peaks higher, see above) |",
        f"| target met (cold set + imports <= 5 s) | {verdict} |",
        "",
        "Where the time goes: the registration check resamples the foot and the hallux onto LPS grids eight times "
        "(SimpleITK) and draws 18 outlines; every figure then pays matplotlib's text layout and the Agg rendering of "
        "a 2000-2250 px wide canvas, and PNG encoding (about 0.1 s per figure). The thickness maps' own renderer "
        "takes under 0.1 s for its nine views.",
    ]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phantom", type=Path, help="clinical-size phantom folder to time (default: make one)")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--runs", type=int, default=4, help="figure-set runs in one process (first = cold)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results_figures.json")
    ap.add_argument("--rewrite", action="store_true", help="only rewrite the section from --out's results")
    args = ap.parse_args()
    if args.rewrite:  # the section again from the recorded results (no measuring)
        result = json.loads(args.out.read_text())
    else:
        work = Path(tempfile.mkdtemp(prefix="bonecover-bench-figures-"))
        folder = args.phantom or make(work, args.seed)
        result = {"command": "python bench/bench_figures.py " + " ".join(sys.argv[1:]),
                  "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                              "machine": platform.machine(), "load_average_at_start": os.getloadavg()[0]},
                  "case": bench(folder, args.runs, work)}
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    lines = section(result)
    print("\n".join(lines))
    sys.path.insert(0, str(ROOT / "bench"))
    from _markdown import replace_section

    replace_section("Figure generation speed (issue 5)", "\n".join(lines))


if __name__ == "__main__":
    main()
