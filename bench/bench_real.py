"""The comparison on the real foot CT (NLM Visible Human Female, ../shared/data/vhf_feet):
speed (fresh process per run, as a user runs it), peak memory and what it measured.

    python bench/bench_real.py [--runs 3]

Writes ``bench/results_real.json`` and the "Real foot CT" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "vhf_feet"
sys.path.insert(0, str(ROOT / "bench"))
from _markdown import replace_section  # noqa: E402


def run_once(side: str) -> dict:
    """One ``bonecover compare`` in a fresh process: wall time, peak RSS and the report."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "o"
        t0 = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        proc = subprocess.run([sys.executable, "-m", "bonecover", "compare", str(DATA), "--affected-side", side,
                               "--out", str(out), "--no-figures", "--quiet"], capture_output=True, text=True,
                              cwd=ROOT)
        wall = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if proc.returncode != 0:
            raise SystemExit(f"compare failed ({proc.returncode}): {proc.stderr.strip()}")
        doc = json.loads((out / "report.json").read_text())
    return {"wall_s": wall, "peak_rss_mb": max(rss, before) / 1024.0, "report": doc}


def summary(doc: dict) -> dict:
    pick = ("bone_volume_ml", "bone_area_mm2", "exposed_area_mm2", "covered_fraction", "soft_tissue_volume_ml")
    return {
        **{f"{role}_{k}": doc[role][k] for role in ("affected", "healthy") for k in pick},
        **{f"{role}_joints_from_tip_mm": doc[role]["hallux"]["joints_from_tip_mm"] for role in ("affected", "healthy")},
        "coverage_ratio": doc["comparison"]["coverage_ratio"],
        "residual_mm": doc["registration"]["residual_mm"],
        "foot_residual_mm": doc["registration"]["foot_residual_mm"],
        "qa": doc["registration"]["qa"],
        "stage_s": doc["timings_s"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"real foot CT not found at {DATA}")
    results = {}
    for side in ("left", "right"):
        runs = [run_once(side) for _ in range(args.runs)]
        walls = sorted(r["wall_s"] for r in runs)
        results[side] = {"wall_s": walls, "median_wall_s": walls[len(walls) // 2],
                         "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), **summary(runs[-1]["report"])}
        print(side, json.dumps(results[side], indent=1))
    (ROOT / "bench" / "results_real.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["Real CT of both feet (NLM Visible Human Female, 1 mm, 150 x 304 x 300 voxels, the feet touch; "
             "`python bench/bench_real.py`, a fresh `bonecover compare --no-figures` process per run, "
             f"{args.runs} runs per side on this 2-core machine).", "",
             "| affected side | wall s (median) | peak RSS MB | QA (residual mm) | bone volume mL aff / healthy "
             "| exposed mm2 aff / healthy | coverage ratio | joints from tip mm (IP, MTP) aff / healthy |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for side, r in results.items():
        ja, jh = r["affected_joints_from_tip_mm"], r["healthy_joints_from_tip_mm"]
        lines.append(
            f"| {side} | {r['median_wall_s']:.1f} | {r['peak_rss_mb']:.0f} | {r['qa']} ({r['residual_mm']:.2f}) "
            f"| {r['affected_bone_volume_ml']:.2f} / {r['healthy_bone_volume_ml']:.2f} "
            f"| {r['affected_exposed_area_mm2']:.1f} / {r['healthy_exposed_area_mm2']:.1f} "
            f"| {r['coverage_ratio']:.3f} | {ja['interphalangeal']}, {ja['metatarsophalangeal']} / "
            f"{jh['interphalangeal']}, {jh['metatarsophalangeal']} |")
    stages = results["left"]["stage_s"]
    lines += ["", "Stages (left affected, last run, s): " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items())]
    replace_section("Real foot CT (issue 13)", "\n".join(lines))


if __name__ == "__main__":
    main()
