"""Registration: bonecover's bone-driven registration vs itk-elastix vs plain SimpleITK.

Every method registers the mirrored healthy foot onto the affected one, on the same
inputs: the feet as bonecover's own stages crop them (``load_ct`` -> ``split_feet``),
the healthy crop reflected exactly across the patient's sagittal plane (x -> -x in
LPS, the array flipped so both images keep a proper direction matrix; voxels stay
where they are in patient space).

- ``bonecover``: ``segment_foot`` -> ``locate_hallux`` -> ``register_feet`` (trimmed ICP
  on bone surfaces); timed alone and together with the segmentation and hallux search
  it needs.
- ``elastix``: itk-elastix with its default ``rigid`` then ``affine`` parameter maps
  (``itk.ParameterObject.GetDefaultParameterMap``, nothing changed: 4 resolutions,
  256 iterations, Mattes MI on 2048 random samples, final B-spline resampling of the
  moving image, which is part of what elastix does by default).
- ``simpleitk``: ``sitk.ImageRegistrationMethod`` rigid (Euler3D), Mattes MI (50 bins,
  1 % random samples), gradient descent (learning rate 1, 100 iterations per level,
  scales from physical shift), shrink 4/2/1 with smoothing 2/1/0 voxels, initialised by
  ``CenteredTransformInitializer`` MOMENTS.

Hallux TRE is measured as in ``bench/accuracy.py``: at the healthy foot's truth
landmarks (hallux tip, interphalangeal joint centre, proximal phalanx base centre),
the distance between where the estimated and the true ``hallux_transform`` put them.
ITK and elastix transforms map fixed (affected) points to moving (mirrored healthy)
points; the estimated healthy -> affected transform is therefore
``inverse(T) @ MIRROR``, with ``T`` fitted exactly as a 4x4 affine from the transform's
own ``TransformPoint`` (all three methods give affine transforms). Also reported: the
error at the first and fifth metatarsal heads against the true ``foot_transform``.

Each method runs in a fresh process (peak resident memory is per method, including
Python, the libraries and the two input images); wall time is the registration call.

    python bench/bench_registration.py                       # makes 3 phantoms (small x2, clinical)
    python bench/bench_registration.py --phantom DIR [...]   # existing phantom folders (truth.json inside)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("bonecover", "simpleitk", "elastix")
HALLUX_LANDMARKS = ("hallux_tip", "interphalangeal_joint_centre", "proximal_phalanx_base_centre")
FOOT_LANDMARKS = ("metatarsal1_head_centre", "metatarsal5_head_centre")


# -- inputs -----------------------------------------------------------------------------------------------------------
def series_paths(folder: Path, truth: dict) -> tuple[Path, Path | None]:
    """(affected series, healthy series or None) of a phantom folder, bilateral or separate layout."""
    if (folder / "ct").is_dir():
        return folder / "ct", None
    aff = truth["affected_side"]
    return folder / f"ct_{aff}", folder / f"ct_{'left' if aff == 'right' else 'right'}"


def crops(folder: Path, truth: dict):  # noqa: ANN201 - (affected FootCrop, healthy FootCrop)
    """The two feet cropped by bonecover's own load and split stages."""
    from bonecover.feet import split_feet
    from bonecover.io import load_ct

    aff_path, h_path = series_paths(folder, truth)
    side = truth["affected_side"]
    a = load_ct(aff_path)
    a_crops = split_feet(a.volume, laterality=a.info.laterality or None)
    if h_path is None:
        h_crops = a_crops
    else:
        h = load_ct(h_path)
        h_crops = split_feet(h.volume, laterality=h.info.laterality or None)
    aff = next(c for c in a_crops if c.side == side)
    healthy = next(c for c in h_crops if c.side != side)
    return aff, healthy


def proper_orientation(volume):  # noqa: ANN001, ANN201 - Volume -> Volume
    """The same voxels in patient space, array axes flipped so the direction is close to +identity."""
    from bonecover.volume import Volume

    arr = np.asarray(volume.array)
    affine = volume.affine.copy()
    for axis_ijk in range(3):
        col = affine[:3, axis_ijk]
        if col[np.argmax(np.abs(col))] < 0:
            n = arr.shape[2 - axis_ijk]
            affine[:3, 3] = affine[:3, 3] + (n - 1) * col
            affine[:3, axis_ijk] = -col
            arr = np.flip(arr, axis=2 - axis_ijk)
    return Volume(np.ascontiguousarray(arr), affine)


def prepare(folder: Path, work: Path) -> dict:
    """Write fixed.mha (affected crop) and moving.mha (mirrored healthy crop), float32 HU."""
    import SimpleITK as sitk

    from bonecover.register import MIRROR
    from bonecover.volume import Volume

    truth = json.loads((folder / "truth.json").read_text())
    aff, healthy = crops(folder, truth)
    fixed = proper_orientation(aff.ct)
    moving = proper_orientation(Volume(healthy.ct.array, MIRROR @ healthy.ct.affine))
    work.mkdir(parents=True, exist_ok=True)
    for name, vol in (("fixed", fixed), ("moving", moving)):
        sitk.WriteImage(sitk.Cast(vol.to_sitk(), sitk.sitkFloat32), str(work / f"{name}.mha"))
    return {"fixed_shape_kji": list(fixed.shape), "moving_shape_kji": list(moving.shape),
            "fixed_spacing_mm": [round(float(v), 3) for v in fixed.spacing_mm]}


# -- methods (each in its own process) --------------------------------------------------------------------------------
def fit_affine(transform_point, fixed_points: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """4x4 affine A with A @ x == transform_point(x) (least squares over ``fixed_points``)."""
    src = np.asarray(fixed_points, float)
    dst = np.array([transform_point([float(v) for v in p]) for p in src], float)
    design = np.hstack([src, np.ones((len(src), 1))])
    coef, *_ = np.linalg.lstsq(design, dst, rcond=None)
    a = np.eye(4)
    a[:3, :] = coef.T
    residual = float(np.max(np.linalg.norm(design @ coef - dst, axis=1)))
    if residual > 1e-3:
        raise RuntimeError(f"the transform is not affine: {residual:.4f} mm residual of the fit")
    return a


def probe_points(truth: dict) -> np.ndarray:
    """Points spread around the affected foot's landmarks (fixed space) for fitting the transform."""
    centre = np.mean([truth["landmarks"]["affected"][k] for k in HALLUX_LANDMARKS + FOOT_LANDMARKS], axis=0)
    rng = np.random.default_rng(0)
    return centre + rng.uniform(-60, 60, size=(24, 3))


def run_simpleitk(work: Path, truth: dict) -> dict:
    import SimpleITK as sitk

    fixed = sitk.ReadImage(str(work / "fixed.mha"), sitk.sitkFloat32)
    moving = sitk.ReadImage(str(work / "moving.mha"), sitk.sitkFloat32)
    t0 = time.perf_counter()
    init = sitk.CenteredTransformInitializer(fixed, moving, sitk.Euler3DTransform(),
                                             sitk.CenteredTransformInitializerFilter.MOMENTS)
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(0.01, seed=1)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsGradientDescent(learningRate=1.0, numberOfIterations=100, convergenceMinimumValue=1e-6,
                                      convergenceWindowSize=10)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([4, 2, 1])
    reg.SetSmoothingSigmasPerLevel([2, 1, 0])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    reg.SetInitialTransform(init, inPlace=False)
    final = reg.Execute(fixed, moving)
    wall = time.perf_counter() - t0
    matrix = fit_affine(final.TransformPoint, probe_points(truth))
    return {"wall_s": wall, "fixed_to_moving": matrix.tolist(),
            "notes": f"stopped: {reg.GetOptimizerStopConditionDescription()}"}


def run_elastix(work: Path, truth: dict) -> dict:
    t_import = time.perf_counter()
    import itk

    fixed = itk.imread(str(work / "fixed.mha"), itk.F)
    moving = itk.imread(str(work / "moving.mha"), itk.F)
    t_import = time.perf_counter() - t_import
    params = itk.ParameterObject.New()
    params.AddParameterMap(params.GetDefaultParameterMap("rigid"))
    params.AddParameterMap(params.GetDefaultParameterMap("affine"))
    t0 = time.perf_counter()
    method = itk.ElastixRegistrationMethod.New(fixed, moving)
    method.SetParameterObject(params)
    method.SetLogToConsole(False)
    method.Update()
    wall = time.perf_counter() - t0
    combined = method.GetCombinationTransform()
    matrix = fit_affine(lambda p: list(combined.TransformPoint(p)), probe_points(truth))
    return {"wall_s": wall, "fixed_to_moving": matrix.tolist(),
            "notes": f"import itk + read the two images {t_import:.1f} s (not counted)"}


def run_bonecover(folder: Path, truth: dict) -> dict:
    from bonecover.hallux import locate_hallux
    from bonecover.register import register_feet
    from bonecover.segment import segment_foot

    aff, healthy = crops(folder, truth)
    t0 = time.perf_counter()
    aff_t, h_t = segment_foot(aff), segment_foot(healthy)
    t1 = time.perf_counter()
    aff_h, h_h = locate_hallux(aff_t), locate_hallux(h_t)
    t2 = time.perf_counter()
    reg = register_feet(aff_t, aff_h, h_t, h_h)
    t3 = time.perf_counter()
    return {"wall_s": t3 - t2, "with_inputs_s": t3 - t0, "segment_s": t1 - t0, "locate_hallux_s": t2 - t1,
            "hallux_transform": reg.hallux_transform.tolist(), "foot_transform": reg.foot_transform.tolist(),
            "qa": reg.qa, "residual_mm": reg.residual_mm}


def worker(method: str, folder: Path, work: Path) -> None:
    truth = json.loads((folder / "truth.json").read_text())
    rss_before = _rss_now_mb()
    out = run_bonecover(folder, truth) if method == "bonecover" else (
        run_simpleitk(work, truth) if method == "simpleitk" else run_elastix(work, truth))
    out["peak_rss_mb"] = _status_mb("VmHWM")
    out["rss_at_start_mb"] = rss_before
    print(json.dumps(out))


def _rss_now_mb() -> float:
    return _status_mb("VmRSS")


def _status_mb(key: str) -> float:
    """A memory figure of this process from /proc/self/status (VmHWM: peak RSS; ru_maxrss is inherited
    from the parent through fork + exec on Linux, so it can report the parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1]) / 1024.0
    return float("nan")


# -- errors -----------------------------------------------------------------------------------------------------------
def tre(estimated: np.ndarray, true: np.ndarray, points: dict, names: tuple[str, ...]) -> dict[str, float]:
    """Distance (mm) between where the estimated and the true healthy -> affected transforms put each point."""
    out = {}
    for name in names:
        p = np.append(np.asarray(points[name], float), 1.0)
        out[name] = float(np.linalg.norm((estimated @ p)[:3] - (true @ p)[:3]))
    return out


def healthy_to_affected(result: dict) -> tuple[np.ndarray, np.ndarray]:
    """(hallux, foot) healthy-original -> affected transforms of a method's result."""
    from bonecover.register import MIRROR

    if "hallux_transform" in result:
        return np.array(result["hallux_transform"]), np.array(result["foot_transform"])
    est = np.linalg.inv(np.array(result["fixed_to_moving"])) @ MIRROR
    return est, est


def run_case(folder: Path, work: Path, methods: tuple[str, ...] = METHODS,
             repeats: dict[str, int] | None = None) -> dict:
    """All methods on one phantom folder (``repeats``: runs per method, default 1); the case record."""
    repeats = repeats or {}
    truth = json.loads((folder / "truth.json").read_text())
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    facts = prepare(folder, work)
    case: dict = {"phantom": folder.name, "size": truth["phantom"].get("size", "?"),
                  "layout": "bilateral" if (folder / "ct").is_dir() else "separate",
                  "seed": truth["phantom"].get("seed"), "prepare_s": time.perf_counter() - t0,
                  **facts, "methods": {}}
    true_h = np.array(truth["registration"]["hallux_transform"])
    true_f = np.array(truth["registration"]["foot_transform"])
    for method in methods:
        runs = []
        for _ in range(repeats.get(method, 1)):
            proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", method, str(folder),
                                   str(work)], capture_output=True, text=True)
            if proc.returncode != 0:
                runs = [{"failure": proc.stderr.strip().splitlines()[-1] if proc.stderr else "?"}]
                break
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            est_h, est_f = healthy_to_affected(res)
            res["tre_mm"] = tre(est_h, true_h, truth["landmarks"]["healthy"], HALLUX_LANDMARKS)
            res["tre_max_mm"] = max(res["tre_mm"].values())
            res["foot_tre_mm"] = tre(est_f, true_f, truth["landmarks"]["healthy"], FOOT_LANDMARKS)
            runs.append(res)
            print(json.dumps({"case": folder.name, "method": method, "wall_s": round(res["wall_s"], 2),
                              "tre_max_mm": round(res["tre_max_mm"], 2), "peak_rss_mb": round(res["peak_rss_mb"])}),
                  file=sys.stderr, flush=True)
        if len(runs) == 1:
            case["methods"][method] = runs[0]
            continue
        # several runs (SimpleITK's random sampling is not repeatable across threads): the run with the
        # median hallux TRE, the median wall time, and every run's numbers
        order = np.argsort([r["tre_max_mm"] for r in runs])
        res = dict(runs[int(order[len(runs) // 2])])
        res["wall_s"] = float(np.median([r["wall_s"] for r in runs]))
        res["runs"] = [{"wall_s": r["wall_s"], "tre_max_mm": r["tre_max_mm"], "peak_rss_mb": r["peak_rss_mb"]}
                       for r in runs]
        case["methods"][method] = res
    return case


def summarise(cases: list[dict]) -> dict:
    """Per method: median wall time, median and max hallux TRE, speed ratio against bonecover."""
    out: dict = {}
    for m in METHODS:
        rs = [c["methods"][m] for c in cases if m in c["methods"] and "wall_s" in c["methods"][m]]
        if not rs:
            continue
        out[m] = {"n": len(rs), "wall_s_median": float(np.median([r["wall_s"] for r in rs])),
                  "tre_max_mm_median": float(np.median([r["tre_max_mm"] for r in rs])),
                  "tre_max_mm_worst": float(np.max([r["tre_max_mm"] for r in rs])),
                  "peak_rss_mb_median": float(np.median([r["peak_rss_mb"] for r in rs]))}
        if m == "bonecover":
            out[m]["with_inputs_s_median"] = float(np.median([r["with_inputs_s"] for r in rs]))
    ratios: dict = {}
    for c in cases:
        b, e = c["methods"].get("bonecover", {}), c["methods"].get("elastix", {})
        if "wall_s" in b and "wall_s" in e:
            ratios.setdefault("elastix_over_bonecover_register", []).append(e["wall_s"] / b["wall_s"])
            ratios.setdefault("elastix_over_bonecover_with_inputs", []).append(e["wall_s"] / b["with_inputs_s"])
            ratios.setdefault("bonecover_tre_lower", []).append(b["tre_max_mm"] < e["tre_max_mm"])
    out["speedup"] = {
        k: (min(v) if k != "bonecover_tre_lower" else all(v)) for k, v in ratios.items()}
    return out


def markdown(result: dict) -> str:
    lines = [f"Measured {result['date']} with `{result['command']}`: {result['machine']}. Each method in a fresh "
             "process on the same inputs (bonecover's crops of the two feet, the healthy one mirrored x -> -x in "
             "LPS); wall time of the registration call; peak RSS of the whole process (bonecover's includes loading, "
             "splitting and segmenting the series, elastix's the itk libraries). Hallux TRE = distance between the "
             "estimated and the true "
             "`hallux_transform` at the healthy tip / IP joint / proximal phalanx base (max of the three); foot TRE "
             "the same at the first and fifth metatarsal heads against the true `foot_transform`. Target (issue 7): "
             "bonecover at least 5x faster than elastix, with a lower hallux TRE.", "",
             "| case | grid (affected crop) | method | wall time | hallux TRE max (tip / IP / base) | foot TRE max | "
             "peak RSS |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for c in result["cases"]:
        shape = c["fixed_shape_kji"]
        for m in METHODS:
            r = c["methods"].get(m)
            if r is None:
                continue
            if "failure" in r:
                lines.append(f"| {c['phantom']} | | {m} | failed: {r['failure']} | | | |")
                continue
            t = r["tre_mm"]
            wall = f"{r['wall_s']:.1f} s"
            tre_note = ""
            if m == "bonecover":
                wall += f" ({r['with_inputs_s']:.1f} s with segment + locate hallux)"
            if "runs" in r:
                wall = f"{wall} (median of {len(r['runs'])})"
                tre_note = (f"; runs {min(x['tre_max_mm'] for x in r['runs']):.2f}-"
                            f"{max(x['tre_max_mm'] for x in r['runs']):.2f} mm")
            lines.append(f"| {c['phantom']} | {shape[2]}x{shape[1]}x{shape[0]} | {m} | {wall} | "
                         f"{r['tre_max_mm']:.2f} mm ({t['hallux_tip']:.2f} / {t['interphalangeal_joint_centre']:.2f}"
                         f" / {t['proximal_phalanx_base_centre']:.2f}{tre_note}) | "
                         f"{max(r['foot_tre_mm'].values()):.2f} mm | {r['peak_rss_mb']:.0f} MB |")
    s = result["summary"]
    sp = s.get("speedup", {})
    if sp:
        lines += ["", f"Slowest case for bonecover relative to elastix: elastix took "
                  f"{sp['elastix_over_bonecover_register']:.1f}x as long as bonecover's registration stage, "
                  f"{sp['elastix_over_bonecover_with_inputs']:.1f}x as long as registration plus the segmentation "
                  f"and hallux search it needs (target 5x); bonecover's hallux TRE lower than elastix's in every "
                  f"case: {'yes' if sp['bonecover_tre_lower'] else 'NO'}."]
    lines += ["", "How to read it: bonecover's `register_feet` works on the bone segmentation and hallux "
              "found by the `segment` and `locate_hallux` stages, which `compare` needs for the measurement anyway; "
              "the time in brackets counts them as if they were done for the registration alone. elastix runs its "
              "default maps unchanged: they start from the identity (no automatic initialisation), and its time "
              "includes the final B-spline resampling of the moving image that elastix does by default; importing "
              "`itk` (several seconds) is not counted. SimpleITK's random metric sampling is not repeatable across "
              "threads, so it runs several times per case and the median is shown with the range. elastix and "
              "SimpleITK align the whole foot (one transform), so their hallux error includes the hallux's own pose "
              "difference (the phantom's hallux is posed independently of the foot); their foot TRE shows how well "
              "they did on what they align."]
    return "\n".join(lines)


def make_phantom_dir(work: Path, size: str, layout: str, seed: int) -> Path:
    out = work / f"{size}_{layout}_seed{seed}"
    subprocess.run([sys.executable, "-m", "bonecover", "phantom", "--out", str(out), "--seed", str(seed), "--size",
                    size, "--layout", layout, "--defect", "small", "--quiet"], check=True)
    return out


def machine_line() -> str:
    import platform

    return (f"{os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load average at start {os.getloadavg()[0]:.1f}")


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("SimpleITK", "itk-elastix", "itk"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phantom", type=Path, action="append", help="phantom folder(s) with truth.json")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results_registration.json")
    ap.add_argument("--simpleitk-runs", type=int, default=3,
                    help="SimpleITK runs per case (its random sampling is not repeatable); the median is reported")
    ap.add_argument("--write", action="store_true", help="update the Registration section of BENCHMARKS.md")
    ap.add_argument("--worker", nargs=3, metavar=("METHOD", "PHANTOM", "WORK"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]), Path(args.worker[2]))
        return
    result = benchmark(args.phantom, tuple(args.methods.split(",")),
                       "python bench/bench_registration.py " + " ".join(sys.argv[1:]),
                       {"simpleitk": args.simpleitk_runs})
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    print(text)
    if args.write:
        sys.path.insert(0, str(ROOT / "bench"))
        from _markdown import replace_section

        replace_section(SECTION, text)


SECTION = "Registration against elastix and SimpleITK (issue 7)"


def benchmark(folders: list[Path] | None, methods: tuple[str, ...], command: str,
              repeats: dict[str, int] | None = None) -> dict:
    machine = machine_line()
    with tempfile.TemporaryDirectory(prefix="bonecover-reg-") as tmp:
        work = Path(tmp)
        if not folders:
            folders = [make_phantom_dir(work, "small", "bilateral", 1), make_phantom_dir(work, "small", "separate", 3),
                       make_phantom_dir(work, "clinical", "bilateral", 2)]
        cases = [run_case(f, work / f"reg_{i}", methods, repeats) for i, f in enumerate(folders)]
    return {"command": command, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine,
            "libraries": library_versions(), "cases": cases, "summary": summarise(cases)}


if __name__ == "__main__":
    main()
