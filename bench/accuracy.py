"""Accuracy of ``bonecover compare`` against the phantom's exact truth.

Runs the comparison on phantoms over seeds x defect kinds x layouts (and the scan
variations real data has), compares every metric with truth.json, and writes the
error distributions and every case that misses issue 4's tolerances to
``bench/results_accuracy.json`` and the "Accuracy" section of BENCHMARKS.md.

    python bench/accuracy.py                # the full grid: 10 seeds x 3 defects x 2 layouts
    python bench/accuracy.py --seeds 3      # a smaller grid
    python bench/accuracy.py --variations   # also HFS, 1 mm voxels, origin at zero, plantar flexion,
                                            # toes touching, foil and gauze dressings
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bonecover.phantom import PhantomConfig, make_phantom, write_phantom  # noqa: E402
from bonecover.pipeline import CompareOptions, compare  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from _markdown import replace_section  # noqa: E402

TOLERANCES = {
    "covered_fraction": "abs 0.03",
    "exposed_area_mm2": "max(15 %, 15 mm2)",
    "thickness_mean_mm": "max(0.3 mm, 10 %)",
    "thickness_median_mm": "max(0.3 mm, 10 %)",
    "soft_tissue_volume_ml": "10 %",
    "bone_volume_ml": "10 %",
    "coverage_ratio": "abs 0.05",
    "tre_mm": "<= 1.0 mm",
}

VARIATIONS = {
    "hfs": {"patient_position": "HFS"},
    "voxel_1mm": {"voxel_mm": 1.0, "slice_mm": 1.0},
    "voxel_0.4mm": {"voxel_mm": 0.4, "slice_mm": 0.5},
    "origin_zero": {"origin_at_zero": True},
    "plantar_flexed": {"plantar_flexion_deg": (30.0, 50.0), "stack_from_toe_tips": True},
    "toes_touching": {"toes_touching": True},
    "foil": {"dressing": "foil"},
    "gauze": {"dressing": "gauze"},
    "dense_wrap": {"dressing": "dense"},
    "gauze_forefoot_large": {"dressing": "gauze", "dressing_site": "forefoot", "defect": "large"},
}


def errors(doc: dict, truth: dict) -> tuple[dict[str, float], list[str]]:
    """Signed errors (measured - truth) per metric, and the tolerance misses."""
    err: dict[str, float] = {}
    misses: list[str] = []
    for role in ("affected", "healthy"):
        m, t = doc[role], truth[role]
        pairs = {
            "covered_fraction": (m["covered_fraction"], t["covered_fraction"]),
            "exposed_area_mm2": (m["exposed_area_mm2"], t["exposed_area_mm2"]),
            "thickness_mean_mm": (m["thickness_mm"]["mean"], t["thickness_mm"]["mean"]),
            "thickness_median_mm": (m["thickness_mm"]["median"], t["thickness_mm"]["median"]),
            "soft_tissue_volume_ml": (m["soft_tissue_volume_ml"], t["soft_tissue_volume_ml"]),
            "bone_volume_ml": (m["bone_volume_ml"], t["bone_volume_ml"]),
        }
        for key, (a, b) in pairs.items():
            err[f"{role}.{key}"] = a - b
            tol = {
                "covered_fraction": 0.03,
                "exposed_area_mm2": max(0.15 * b, 15.0),
                "thickness_mean_mm": max(0.3, 0.1 * b),
                "thickness_median_mm": max(0.3, 0.1 * b),
                "soft_tissue_volume_ml": 0.1 * b,
                "bone_volume_ml": 0.1 * b,
            }[key]
            if abs(a - b) > tol:
                misses.append(f"{role}.{key}: {a:.3f} vs {b:.3f}")
    cr = (doc["comparison"]["coverage_ratio"], truth["comparison"]["coverage_ratio"])
    err["coverage_ratio"] = cr[0] - cr[1]
    if abs(err["coverage_ratio"]) > 0.05:
        misses.append(f"coverage_ratio: {cr[0]:.3f} vs {cr[1]:.3f}")
    for k in ("mean", "median"):
        err[f"thickness_deficit_{k}_mm"] = (doc["comparison"]["thickness_deficit_mm"][k]
                                            - truth["comparison"]["thickness_deficit_mm"][k])
    err["soft_tissue_deficit_ml"] = (doc["comparison"]["soft_tissue_deficit_ml"]
                                     - truth["comparison"]["soft_tissue_deficit_ml"])
    est = np.array(doc["registration"]["hallux_transform"])
    true = np.array(truth["registration"]["hallux_transform"])
    for name in ("hallux_tip", "interphalangeal_joint_centre", "proximal_phalanx_base_centre"):
        p = np.array(truth["landmarks"]["healthy"][name])
        tre = float(np.linalg.norm(est[:3, :3] @ p + est[:3, 3] - (true[:3, :3] @ p + true[:3, 3])))
        err[f"tre.{name}_mm"] = tre
        if tre > 1.0:
            misses.append(f"TRE {name}: {tre:.2f} mm")
    return err, misses


def run_case(config: PhantomConfig, work: Path) -> dict:
    t0 = time.perf_counter()
    study = make_phantom(config)
    folder = work / f"case_{config.seed}_{config.defect}_{config.layout}"
    write_phantom(study, folder)
    t_make = time.perf_counter() - t0
    truth = study.truth
    case = {"seed": config.seed, "defect": config.defect, "layout": config.layout, "make_s": round(t_make, 1)}
    try:
        t1 = time.perf_counter()
        if config.layout == "bilateral":
            doc = compare(folder / "ct", options=CompareOptions(affected_side=config.affected)).document
        else:
            healthy = "left" if config.affected == "right" else "right"
            doc = compare(folder / f"ct_{config.affected}", folder / f"ct_{healthy}").document
        case["compare_s"] = round(time.perf_counter() - t1, 1)
        case["qa"] = doc["registration"]["qa"]
        case["errors"], case["misses"] = errors(doc, truth)
    except Exception as exc:  # noqa: BLE001 - a benchmark records failures, it does not stop
        case["failure"] = f"{type(exc).__name__}: {exc}"
        case["traceback"] = traceback.format_exc(limit=3)
    shutil.rmtree(folder, ignore_errors=True)
    return case


def summarise(cases: list[dict]) -> dict:
    keys = sorted({k for c in cases for k in c.get("errors", {})})
    out = {}
    for k in keys:
        v = np.array([c["errors"][k] for c in cases if k in c.get("errors", {})])
        out[k] = {"n": int(v.size), "median": float(np.median(v)), "p05": float(np.percentile(v, 5)),
                  "p95": float(np.percentile(v, 95)), "max_abs": float(np.max(np.abs(v)))}
    return out


def markdown(result: dict) -> str:
    """The Accuracy section of BENCHMARKS.md from a results document."""
    lines = [f"Measured {result['date']} with `{result['command']}` (2 cores). Errors are measured - truth "
             "against the phantom's exact geometry; TRE is the distance between the estimated and the true "
             "`hallux_transform` at the healthy hallux landmarks. Tolerances (issue 4): "
             + "; ".join(f"{k} {v}" for k, v in result["tolerances"].items()) + ".", ""]
    for part, title in (("grid", "Grid: seeds x defects {none, small, large} x layouts {bilateral, separate}"),
                        ("variations", "Scan variations (one phantom each)")):
        cases = result[part]["cases"]
        if not cases:
            continue
        bad = [c for c in cases if c.get("misses") or c.get("failure")]
        lines += [f"### {title}", "", f"{len(cases)} cases, {len(cases) - len(bad)} within every tolerance, "
                  f"QA: " + ", ".join(f"{q} {sum(c.get('qa') == q for c in cases)}" for q in ("pass", "warn", "fail"))
                  + f"; compare took {np.median([c.get('compare_s', np.nan) for c in cases]):.1f} s median "
                  "(small phantoms, other jobs running).", "",
                  "| metric (measured - truth) | n | median | 5th pct | 95th pct | max abs |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for k, v in result[part]["summary"].items():
            lines.append(f"| {k} | {v['n']} | {v['median']:+.3f} | {v['p05']:+.3f} | {v['p95']:+.3f} | "
                         f"{v['max_abs']:.3f} |")
        lines.append("")
        if bad:
            lines += ["Cases that miss a tolerance:", ""]
            for c in bad:
                name = c.get("variation", f"seed {c['seed']} {c['defect']} {c['layout']} {c.get('size', 'small')}")
                lines.append(f"- {name}: " + ("; ".join(c.get("misses", [])) or c.get("failure", "")))
            lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=100)
    ap.add_argument("--defects", default="none,small,large")
    ap.add_argument("--layouts", default="bilateral,separate")
    ap.add_argument("--variations", action="store_true", help="also run the scan variations (one seed each)")
    ap.add_argument("--only-variations", action="store_true")
    ap.add_argument("--skip", default="", help="comma-separated variations to leave out")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results_accuracy.json")
    ap.add_argument("--report-only", action="store_true", help="only rewrite BENCHMARKS.md from --out")
    ap.add_argument("--size", default="small", choices=("small", "clinical"))
    ap.add_argument("--merge", action="store_true", help="add these cases to the results already in --out")
    ap.add_argument("--combine", type=Path, nargs="+", metavar="RESULTS",
                    help="combine results files of separate (e.g. parallel) runs into --out and BENCHMARKS.md")
    ap.add_argument("--no-markdown", action="store_true", help="leave BENCHMARKS.md alone (parallel runs)")
    args = ap.parse_args()
    if args.combine:
        parts = [json.loads(f.read_text()) for f in args.combine]
        grid_cases = [c for p in parts for c in p["grid"]["cases"]]
        variation_cases = [c for p in parts for c in p["variations"]["cases"]]
        combined = {
            "command": "` + `".join(p["command"] for p in parts),
            "date": max(p["date"] for p in parts),
            "tolerances": TOLERANCES,
            "grid": {"cases": grid_cases, "summary": summarise(grid_cases)},
            "variations": {"cases": variation_cases, "summary": summarise(variation_cases)},
        }
        args.out.write_text(json.dumps(combined, indent=2) + "\n")
        replace_section("Accuracy (issue 4)", markdown(combined))
        return
    if args.report_only:
        replace_section("Accuracy (issue 4)", markdown(json.loads(args.out.read_text())))
        return
    work = Path(tempfile.mkdtemp(prefix="bonecover-acc-"))
    cases = []
    grid = [] if args.only_variations else [
        PhantomConfig(seed=s, defect=d, layout=lay, affected="right" if s % 2 else "left", size=args.size)
        for s in range(args.first_seed, args.first_seed + args.seeds)
        for d in args.defects.split(",") for lay in args.layouts.split(",")
    ]
    for config in grid:
        case = run_case(config, work)
        cases.append(case)
        print(json.dumps({k: v for k, v in case.items() if k not in ("errors", "traceback")}), flush=True)
    variation_cases = []
    if args.variations or args.only_variations:
        for i, (name, extra) in enumerate(VARIATIONS.items()):
            if args.skip and name in args.skip.split(","):
                continue
            config = PhantomConfig(**{"seed": 500 + i, "defect": ("small", "large", "none")[i % 3], **extra})
            case = run_case(config, work)
            case["variation"] = name
            variation_cases.append(case)
            print(json.dumps({k: v for k, v in case.items() if k not in ("errors", "traceback")}), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    for c in cases + variation_cases:
        c["size"] = args.size
    command = "python bench/accuracy.py " + " ".join(sys.argv[1:])
    if args.merge and args.out.exists():
        old = json.loads(args.out.read_text())
        cases = old["grid"]["cases"] + cases
        variation_cases = old["variations"]["cases"] + variation_cases
        command = old["command"] + "` + `" + command
    result = {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "tolerances": TOLERANCES,
        "grid": {"cases": cases, "summary": summarise(cases)},
        "variations": {"cases": variation_cases, "summary": summarise(variation_cases)},
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if not args.no_markdown:
        replace_section("Accuracy (issue 4)", markdown(result))
    for part in ("grid", "variations"):
        c = result[part]["cases"]
        if c:
            bad = [x for x in c if x.get("misses") or x.get("failure")]
            print(f"{part}: {len(c)} cases, {len(bad)} with misses or failures")


if __name__ == "__main__":
    main()
