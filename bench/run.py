"""The whole benchmark suite in one command: speed, memory and accuracy (issue 7).

    python bench/run.py            # or: python -m bench   (from the repository root)
    python bench/run.py --quick    # smoke run (small phantoms, one run each; a few minutes)

Parts, in this order, sharing one set of generated phantoms (small and clinical, bilateral
and separate layouts; generated two at a time, kept with ``--cache DIR`` for reruns):

1. loading: ``load_ct`` vs SimpleITK's ImageSeriesReader vs ``dcm2niix`` (``bench_loading.py``);
2. compare end to end: per-stage wall time and peak RSS, median of several fresh-process
   runs, both layouts and sizes; time against voxel count (``bench_compare.py``);
3. registration: bonecover vs itk-elastix (default rigid + affine) vs SimpleITK rigid,
   wall time and hallux TRE against truth (``bench_registration.py``);
4. where the time goes: cProfile of one clinical compare;
5. accuracy: the errors of the compare runs above against truth, plus a few seeds of
   the accuracy grid (``accuracy.py``'s own cases; the full 62-case grid is
   ``python bench/accuracy.py --seeds 10``, about 45 minutes).

Writes ``bench/results.json`` (everything, machine-readable) and regenerates the
suite's sections of BENCHMARKS.md (other sections are left as they are).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import bench_compare  # noqa: E402
import bench_loading  # noqa: E402
import bench_registration  # noqa: E402
from _markdown import replace_section  # noqa: E402

SUITE_SECTION = "Benchmark suite (issue 7)"
ACCURACY_SECTION = "Accuracy in the suite (issue 7)"

#: name -> (size, layout, seed, affected side)
PHANTOMS = {
    "small_bilateral": ("small", "bilateral", 1, "right"),
    "small_separate": ("small", "separate", 1, "left"),
    "clinical_bilateral": ("clinical", "bilateral", 2, "right"),
    "clinical_separate": ("clinical", "separate", 2, "left"),
}


# -- machine ----------------------------------------------------------------------------------------------------------
def machine_facts() -> dict:
    cpu = "?"
    ram_gb = float("nan")
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
        kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
        ram_gb = kb / 1024**2
    except (OSError, StopIteration):
        pass
    libs = {}
    for name in ("bonecover", "numpy", "scipy", "SimpleITK", "pydicom", "scikit-image", "itk-elastix", "itk"):
        try:
            libs[name] = version(name)
        except PackageNotFoundError:
            libs[name] = "not installed"
    dcm2niix = "not installed"
    if shutil.which("dcm2niix"):
        out = subprocess.run(["dcm2niix", "-v"], capture_output=True, text=True).stdout.split()
        dcm2niix = out[-1] if out else "?"
    libs["dcm2niix"] = dcm2niix
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(ram_gb, 1), "machine": platform.machine(),
            "python": platform.python_version(), "libraries": libs,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


# -- phantoms ---------------------------------------------------------------------------------------------------------
def phantoms(names: list[str], cache: Path) -> tuple[dict[str, Path], float]:
    """Generate the phantoms that are not in ``cache`` yet, two at a time; their folders and the wall time."""
    t0 = time.perf_counter()
    todo = [n for n in names if not (cache / n / "truth.json").exists()]
    running: list[tuple[str, subprocess.Popen]] = []
    for name in todo:
        size, layout, seed, affected = PHANTOMS[name]
        shutil.rmtree(cache / name, ignore_errors=True)
        cmd = [sys.executable, "-m", "bonecover", "phantom", "--out", str(cache / name), "--seed", str(seed),
               "--size", size, "--layout", layout, "--affected", affected, "--defect", "small", "--quiet"]
        running.append((name, subprocess.Popen(cmd, stdout=subprocess.DEVNULL)))
        if len(running) == 2:
            _wait(running.pop(0))
    for item in running:
        _wait(item)
    return {n: cache / n for n in names}, time.perf_counter() - t0


def _wait(item: tuple[str, subprocess.Popen]) -> None:
    name, proc = item
    if proc.wait() != 0:
        raise SystemExit(f"bench: generating phantom {name} failed (exit {proc.returncode})")


# -- profile ----------------------------------------------------------------------------------------------------------
def profile_compare(folder: Path, top: int = 15) -> dict:
    """cProfile of one compare (in this process): the top entries by own and by cumulative time."""
    from bonecover.pipeline import CompareOptions, compare

    truth = json.loads((folder / "truth.json").read_text())
    affected, healthy, _ = bench_compare.inputs(folder, truth)
    side = truth["affected_side"] if healthy is None else None
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    report = compare(affected, healthy, options=CompareOptions(affected_side=side))
    prof.disable()
    wall = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    entries = []
    for (file, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = file.replace(str(ROOT) + "/", "")
        if "site-packages/" in where:
            where = where.split("site-packages/", 1)[1]
        entries.append({"function": f"{where}:{line}({func})", "calls": ncalls, "own_s": round(tottime, 3),
                        "cumulative_s": round(cumtime, 3)})
    by_own = sorted(entries, key=lambda e: -e["own_s"])[:top]
    by_cum = sorted((e for e in entries if e["function"].startswith("bonecover/")),
                    key=lambda e: -e["cumulative_s"])[:top]
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(top)
    return {"phantom": folder.name, "wall_s_with_profiler": wall, "stages_s": report.document["timings_s"],
            "top_own_time": by_own, "top_cumulative_bonecover": by_cum}


# -- accuracy ---------------------------------------------------------------------------------------------------------
def accuracy_part(compare_result: dict, seeds: int, first_seed: int, work: Path) -> dict:
    """Errors of the compare runs above against truth, plus ``seeds`` seeds of accuracy.py's grid."""
    import accuracy
    import numpy as np

    from bonecover.phantom import PhantomConfig

    cases = []
    for row in compare_result["cases"]:
        if "report" not in row:
            continue
        folder = Path(row["phantom_path"])
        truth = json.loads((folder / "truth.json").read_text())
        doc = json.loads(Path(row["report"]).read_text())
        err, misses = accuracy.errors(doc, truth)
        cases.append({"case": folder.name, "size": row["size"], "layout": row["layout"],
                      "qa": doc["registration"]["qa"], "errors": err, "misses": misses, "source": "shared phantom"})
    configs = [PhantomConfig(seed=s, defect=d, layout=lay, affected="right" if s % 2 else "left", size="small")
               for s in range(first_seed, first_seed + seeds) for d in ("none", "small", "large")
               for lay in ("bilateral", "separate")]
    if configs:
        with ProcessPoolExecutor(max_workers=2) as pool:
            for case in pool.map(accuracy.run_case, configs, [work] * len(configs)):
                case["case"] = f"seed {case['seed']} {case['defect']} {case['layout']}"
                case["size"], case["source"] = "small", "accuracy.py grid case"
                cases.append(case)
                print(json.dumps({"accuracy": case["case"], "misses": case.get("misses"),
                                  "failure": case.get("failure")}), file=sys.stderr, flush=True)
    summary = accuracy.summarise([c for c in cases if "errors" in c])
    return {"cases": cases, "summary": summary, "tolerances": accuracy.TOLERANCES,
            "within_tolerance": int(sum(1 for c in cases if "errors" in c and not c.get("misses"))),
            "compare_s_median_grid": float(np.median([c["compare_s"] for c in cases if "compare_s" in c]))
            if any("compare_s" in c for c in cases) else None}


# -- targets and Markdown ---------------------------------------------------------------------------------------------
def targets(results: dict) -> list[dict]:
    out = []
    for row in results["compare"]["cases"]:
        if row["size"] == "clinical":
            ok = row["total_s_median"] < 15.0 and row["peak_rss_mb_median"] < 3072
            out.append({"target": f"compare, clinical {row['layout']}: under 15 s and 3 GB (issue 4)",
                        "measured": f"{row['total_s_median']:.1f} s, {row['peak_rss_mb_median']:.0f} MB", "met": ok})
    sc = results["compare"].get("scaling")
    if sc:
        out.append({"target": "compare time grows no faster than linearly in voxels (alpha <= 1)",
                    "measured": f"alpha = {sc['alpha_total']:.2f} over {sc['rows'][0]['voxels'] / 1e6:.0f}-"
                                f"{sc['rows'][-1]['voxels'] / 1e6:.0f} M voxels", "met": sc["alpha_total"] <= 1.0})
    for s in results["loading"]["series"]:
        out.append({"target": f"loading ({s['label'].split(':')[0].split(',')[0]}): bonecover / SimpleITK <= 1.5 "
                              "(issue 3)",
                    "measured": f"{s['ratio_bonecover_over_simpleitk']:.2f}",
                    "met": s["ratio_bonecover_over_simpleitk"] <= 1.5})
    sp = results["registration"]["summary"].get("speedup")
    if sp:
        out.append({"target": "registration: bonecover >= 5x faster than elastix (registration stage)",
                    "measured": f"{sp['elastix_over_bonecover_register']:.1f}x (slowest case)",
                    "met": sp["elastix_over_bonecover_register"] >= 5.0})
        out.append({"target": "registration: bonecover >= 5x faster than elastix, counting the bone segmentation "
                              "and hallux search it needs",
                    "measured": f"{sp['elastix_over_bonecover_with_inputs']:.1f}x (slowest case)",
                    "met": sp["elastix_over_bonecover_with_inputs"] >= 5.0})
        out.append({"target": "registration: bonecover's hallux TRE lower than elastix's (every case)",
                    "measured": "; ".join(
                        f"{c['phantom']} {c['methods']['bonecover']['tre_max_mm']:.2f} vs "
                        f"{c['methods']['elastix']['tre_max_mm']:.2f} mm" for c in results["registration"]["cases"]
                        if "tre_max_mm" in c["methods"].get("bonecover", {})
                        and "tre_max_mm" in c["methods"].get("elastix", {})),
                    "met": bool(sp["bonecover_tre_lower"])})
    out.append({"target": "whole suite under 15 minutes on 2 cores",
                "measured": f"{results['wall_s'] / 60:.1f} min", "met": results["wall_s"] < 900})
    return out


def suite_markdown(results: dict) -> str:
    m = results["machine"]
    libs = ", ".join(f"{k} {v}" for k, v in m["libraries"].items())
    lines = [f"Measured {m['date']} with `{results['command']}` on {m['cpu']} ({m['cores']} cores, {m['ram_gb']} GB "
             f"RAM, {m['machine']}), Python {m['python']}; {libs}. Load average (1, 5, 15 min) "
             f"{results['load_before']} before, {results['load_after']} after: "
             + ("**the machine was shared with other jobs, so absolute times are inflated; ratios measured within "
                "this run (bonecover vs SimpleITK vs elastix vs dcm2niix) are less sensitive to that.** "
                if results["load_before"][0] > 0.5 or results["load_after"][0] > 1.5 else "")
             + f"Whole suite: **{results['wall_s'] / 60:.1f} min** wall (phantom generation "
             f"{results['phantoms_s']:.0f} s of it{', from the cache' if results['phantoms_s'] < 5 else ''}), "
             f"{results.get('cpu_s', float('nan')) / 60:.1f} min of CPU time (this process and its children; on an "
             "idle 2-core machine the wall time lies between half of it and all of it). "
             "Machine-readable results: `bench/results.json`.", "",
             "Install the benchmark tools: `pip install -e \".[bench]\"` (itk-elastix) and "
             "`apt-get install dcm2niix libgdcm-tools` (dcm2niix; gdcmconv for the compressed-DICOM rows). "
             "`python bench/run.py --quick` is a smoke run of a few minutes; `--cache DIR` keeps the phantoms for "
             "reruns. The full accuracy grid (62 cases, about 45 minutes) is `python bench/accuracy.py --seeds 10` "
             "(section \"Accuracy (issue 4)\" below, `bench/results_accuracy.json`).", "",
             "| target | measured | met |", "| --- | --- | --- |"]
    for t in results["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**NO**'} |")
    missed = [t for t in results["targets"] if not t["met"]]
    if missed:
        lines += ["", "Missed: " + "; ".join(t["target"] for t in missed) + ". The profile below shows where "
                  "compare's time goes; for the registration comparison, elastix and SimpleITK spend their time "
                  "inside one compiled call each (nothing for Python's profiler to split), while bonecover's "
                  "registration time is the `register` stage and its inputs the `segment` and `locate_hallux` "
                  "stages in this profile."]
    p = results.get("profile")
    if p:
        lines += ["", f"**Where the time goes** (cProfile of one compare on `{p['phantom']}`, "
                  f"{p['wall_s_with_profiler']:.1f} s with the profiler; stages "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in p["stages_s"].items()) + "). Top bonecover functions "
                  "by cumulative time, then the top entries by own time:", "",
                  "| function | calls | cumulative s | own s |", "| --- | --- | --- | --- |"]
        for e in p["top_cumulative_bonecover"][:10]:
            lines.append(f"| `{e['function']}` | {e['calls']} | {e['cumulative_s']:.2f} | {e['own_s']:.2f} |")
        lines += ["", "| function (own time) | calls | own s | cumulative s |", "| --- | --- | --- | --- |"]
        for e in p["top_own_time"][:10]:
            lines.append(f"| `{e['function']}` | {e['calls']} | {e['own_s']:.2f} | {e['cumulative_s']:.2f} |")
    return "\n".join(lines)


def accuracy_markdown(results: dict) -> str:
    a = results["accuracy"]
    cases = a["cases"]
    ok = [c for c in cases if "errors" in c and not c.get("misses")]
    lines = [f"Measured {results['machine']['date']} by `{results['command']}`: the errors (measured - truth, "
             "against the phantom's exact geometry) of the compare runs of the speed benchmark on the shared "
             f"phantoms, plus {results['accuracy_seeds']} seed(s) of `bench/accuracy.py`'s grid (3 defects x 2 "
             "layouts each, small phantoms). A subset that fits the suite's time; the full grid is "
             "`python bench/accuracy.py --seeds 10` (\"Accuracy (issue 4)\"). Tolerances (issue 4): "
             + "; ".join(f"{k} {v}" for k, v in a["tolerances"].items()) + ".", "",
             f"{len(cases)} cases, {len(ok)} within every tolerance; "
             + ", ".join(f"{c['case']} ({c['size']}, {c['layout']})" for c in cases) + ".", "",
             "| metric (measured - truth) | n | median | 5th pct | 95th pct | max abs |",
             "| --- | --- | --- | --- | --- | --- |"]
    for k, v in a["summary"].items():
        lines.append(f"| {k} | {v['n']} | {v['median']:+.3f} | {v['p05']:+.3f} | {v['p95']:+.3f} | "
                     f"{v['max_abs']:.3f} |")
    bad = [c for c in cases if c.get("misses") or c.get("failure")]
    if bad:
        lines += ["", "Cases that miss a tolerance:", ""]
        lines += [f"- {c['case']}: " + ("; ".join(c.get("misses", [])) or c.get("failure", "")) for c in bad]
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: small phantoms, one run each")
    ap.add_argument("--cache", type=Path, default=None, help="keep (and reuse) the generated phantoms here")
    ap.add_argument("--out", type=Path, default=BENCH / "results.json")
    ap.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    ap.add_argument("--accuracy-seeds", type=int, default=None, help="accuracy grid seeds (default 1; quick 0)")
    ap.add_argument("--report-only", action="store_true", help="only rewrite BENCHMARKS.md from --out")
    args = ap.parse_args()
    if args.report_only:
        write_markdown(json.loads(args.out.read_text()))
        return
    command = "python bench/run.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    t_start = time.perf_counter()
    results: dict = {"command": command, "machine": machine_facts(), "load_before": load(), "quick": args.quick}
    print(json.dumps({"machine": results["machine"], "load": results["load_before"]}), file=sys.stderr, flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bonecover-suite-"))
    cache = args.cache or tmp / "phantoms"
    cache.mkdir(parents=True, exist_ok=True)
    try:
        names = ["small_bilateral", "small_separate"] + ([] if args.quick else
                                                          ["clinical_bilateral", "clinical_separate"])
        folders, results["phantoms_s"] = phantoms(names, cache)
        results["phantoms"] = {n: dict(zip(("size", "layout", "seed", "affected"), PHANTOMS[n], strict=True))
                               for n in names}
        big = folders["small_bilateral" if args.quick else "clinical_bilateral"]

        # 1. loading
        quick_loading = (100, 1, 0) if args.quick else (600, 3, 100)
        loading_cmd = (f"{command} (as bench/bench_loading.py --slices {quick_loading[0]} --repeat "
                       f"{quick_loading[1]} --phantom DIR" + (f" --compressed {quick_loading[2]})" if quick_loading[2]
                                                            else ")"))
        results["loading_markdown"], results["loading"] = bench_loading.benchmark(
            quick_loading[0], quick_loading[1], big / "ct", quick_loading[2], loading_cmd)
        print(json.dumps({"part": "loading", "load": load()}), file=sys.stderr, flush=True)

        # 2. compare end to end, and scaling
        runs = 1 if args.quick else 3
        spacings = [1.2, 0.9, 0.6] if args.quick else [1.0, 0.8, 0.63, 0.5, 0.4]
        docs = tmp / "reports"
        docs.mkdir(exist_ok=True)
        order = [n for n in ("clinical_bilateral", "clinical_separate", "small_bilateral", "small_separate")
                 if n in folders]
        results["compare"] = bench_compare.benchmark(
            [folders[n] for n in order], runs,
            f"{command} (bench_compare.py --runs {runs} --scaling {','.join(map(str, spacings))})",
            scaling_phantom=big, spacings=spacings, scaling_runs=1, doc_dir=docs)
        for row, n in zip(results["compare"]["cases"], order, strict=True):
            row["phantom_path"] = str(folders[n])
        print(json.dumps({"part": "compare", "load": load()}), file=sys.stderr, flush=True)

        # 3. registration
        reg_cases = (["small_bilateral"] if args.quick else
                     ["small_bilateral", "small_separate", "clinical_bilateral", "clinical_separate"])
        results["registration"] = bench_registration.benchmark(
            [folders[n] for n in reg_cases], bench_registration.METHODS, command,
            {"simpleitk": 1 if args.quick else 3})
        print(json.dumps({"part": "registration", "load": load()}), file=sys.stderr, flush=True)

        # 4. profile
        results["profile"] = profile_compare(big)

        # 5. accuracy
        seeds = args.accuracy_seeds if args.accuracy_seeds is not None else (0 if args.quick else 1)
        results["accuracy_seeds"] = seeds
        acc_work = tmp / "accuracy"
        acc_work.mkdir(exist_ok=True)
        results["accuracy"] = accuracy_part(results["compare"], seeds, 300, acc_work)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["load_after"] = load()
    results["wall_s"] = time.perf_counter() - t_start
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    results["cpu_s"] = sum(u.ru_utime + u.ru_stime for u in usage)
    results["targets"] = targets(results)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(suite_markdown(results))
    if not args.no_write:
        write_markdown(results)
    print(f"bench: wrote {args.out}" + ("" if args.no_write else " and BENCHMARKS.md"), file=sys.stderr)


def write_markdown(results: dict) -> None:
    """Regenerate the suite's sections of BENCHMARKS.md from a results document."""
    replace_section(SUITE_SECTION, suite_markdown(results))
    bench_loading.write_section(results["loading_markdown"])
    replace_section(bench_compare.SECTION, bench_compare.markdown(results["compare"]))
    replace_section(bench_registration.SECTION, bench_registration.markdown(results["registration"]))
    replace_section(ACCURACY_SECTION, accuracy_markdown(results))


if __name__ == "__main__":
    main()
