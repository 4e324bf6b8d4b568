"""Loading speed of bonecover's CT loader vs SimpleITK's ImageSeriesReader.

Writes a synthetic 512 x 512 x N CT series (uncompressed, int16, one file per slice,
file names shuffled) into a temporary folder, then times, best of ``--repeat``:

- ``discover`` alone (the header-only scan),
- ``bonecover.io.load_ct`` (scan + choice + pixel read + rescale + geometry checks),
- SimpleITK: ``ImageSeriesReader.GetGDCMSeriesFileNames`` + ``Execute``,
- ``dcm2niix`` (Debian package, when installed): conversion of the same series to an
  uncompressed NIfTI file (plus its JSON sidecar) in a temporary folder; it writes a
  file rather than returning an array, so it is also timed with SimpleITK reading the
  NIfTI back,

checks all give identical voxels (dcm2niix's NIfTI resampled nearest-neighbour onto
bonecover's grid, which undoes its reorientation) and prints a Markdown table (also
written into the loader section of ``BENCHMARKS.md`` with ``--write``; ``--json`` writes
the numbers).

Usage: ``python bench/bench_loading.py [--slices 600] [--repeat 3] [--phantom DIR] [--write] [--json OUT]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from bonecover.io import discover, load_ct

SECTION = "## Loading (issue 3)"


def write_series(folder: Path, n: int, *, seed: int = 0) -> None:
    """A 512 x 512 x n int16 CT series with 0.4 mm pixels and 0.5 mm slices."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:512, 0:512]
    body = ((xx - 256) ** 2 + (yy - 256) ** 2 < 200**2).astype(np.int16)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    names = rng.permutation(n)
    for k in range(n):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality = "CT"
        ds.PatientName, ds.PatientID = "BENCH^SYNTHETIC", "BENCH"
        ds.SeriesDescription = "FOOT 0.5"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [-102.2, -102.2, -150.0 + 0.5 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.4, 0.4]
        ds.SliceThickness = 0.5
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows = ds.Columns = 512
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        img = body * 1064 + rng.integers(0, 40, size=(512, 512), dtype=np.int16)
        ds.PixelData = img.astype("<i2").tobytes()
        ds.save_as(folder / f"{names[k]:06d}", enforce_file_format=True)


def best_of(func, repeat: int) -> tuple[float, object]:  # noqa: ANN001
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - t0)
    return best, out


def sitk_read(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def dcm2niix_convert(folder: Path, out: Path) -> Path:
    """Convert one series folder with dcm2niix (uncompressed NIfTI + JSON sidecar); the NIfTI path."""
    for f in out.iterdir():
        f.unlink()
    subprocess.run(["dcm2niix", "-z", "n", "-f", "series", "-o", str(out), str(folder)], check=True,
                   capture_output=True)
    return out / "series.nii"


def measure(folder: Path, repeat: int, label: str) -> list[tuple[str, str]]:
    """Time discover / load_ct / SimpleITK (/ dcm2niix) on one series folder; rows of a Markdown table."""
    return measure_numbers(folder, repeat, label)[0]


def measure_numbers(folder: Path, repeat: int, label: str) -> tuple[list[tuple[str, str]], dict]:
    """As :func:`measure`, and the numbers as a dict (seconds, ratios)."""
    sitk_read(folder)  # warm the page cache for both readers
    t_scan, inv = best_of(lambda: discover(folder), repeat)
    n_files = inv.n_files  # type: ignore[attr-defined]
    t_ours, ct = best_of(lambda: load_ct(folder), repeat)
    t_sitk, img = best_of(lambda: sitk_read(folder), repeat)
    same = np.array_equal(ct.volume.array, sitk.GetArrayFromImage(img))  # type: ignore[attr-defined]
    same_origin = np.allclose(ct.volume.origin_mm, img.GetOrigin(), atol=1e-4)  # type: ignore[attr-defined]
    numbers: dict = {"label": label, "files": n_files, "discover_s": t_scan, "load_ct_s": t_ours,
                     "simpleitk_s": t_sitk, "ratio_bonecover_over_simpleitk": t_ours / t_sitk,
                     "identical_to_simpleitk": bool(same and same_origin)}
    rows = [
        ("series", label),
        ("header scan (`discover`)", f"{t_scan:.2f} s ({1e3 * t_scan / n_files:.2f} ms/file)"),
        ("`load_ct` (scan + read + checks)", f"{t_ours:.2f} s"),
        ("SimpleITK ImageSeriesReader (GDCM file list + Execute)", f"{t_sitk:.2f} s"),
        ("ratio bonecover / SimpleITK", f"{t_ours / t_sitk:.2f} (target <= 1.5)"),
        ("identical voxels and origin", f"{same and same_origin}"),
    ]
    if shutil.which("dcm2niix") is None:
        rows.append(("dcm2niix", "skipped: not installed (`apt-get install dcm2niix`)"))
        return rows, numbers
    with tempfile.TemporaryDirectory(prefix="bonecover-bench-nii-") as tmp:
        out = Path(tmp)
        t_conv, nii = best_of(lambda: dcm2niix_convert(folder, out), repeat)
        t_read, nimg = best_of(lambda: sitk.ReadImage(str(nii)), repeat)
        ref = ct.volume.to_sitk()  # type: ignore[attr-defined]
        on_grid = sitk.Resample(nimg, ref, sitk.Transform(), sitk.sitkNearestNeighbor, -5000.0, nimg.GetPixelID())
        same_nii = np.array_equal(sitk.GetArrayFromImage(on_grid).astype(np.float64),
                                  np.asarray(ct.volume.array, np.float64))  # type: ignore[attr-defined]
        version = subprocess.run(["dcm2niix", "-v"], capture_output=True, text=True).stdout.split()
    numbers.update({"dcm2niix_s": t_conv, "dcm2niix_plus_read_s": t_conv + t_read,
                    "ratio_bonecover_over_dcm2niix": t_ours / t_conv,
                    "ratio_bonecover_over_dcm2niix_plus_read": t_ours / (t_conv + t_read),
                    "identical_to_dcm2niix": bool(same_nii), "dcm2niix_version": version[-1] if version else "?"})
    rows += [
        ("dcm2niix (convert to an uncompressed NIfTI + JSON sidecar on disk)", f"{t_conv:.2f} s"),
        ("dcm2niix + SimpleITK reading the NIfTI back into memory", f"{t_conv + t_read:.2f} s"),
        ("ratio bonecover / dcm2niix (convert only; convert + read)",
         f"{t_ours / t_conv:.2f}; {t_ours / (t_conv + t_read):.2f}"),
        ("identical voxels (dcm2niix's NIfTI resampled nearest onto bonecover's grid)", f"{same_nii}"),
    ]
    return rows, numbers


def compressed_rows(n: int, repeat: int) -> list[tuple[str, str]]:
    """Load time vs SimpleITK for gdcmconv-transcoded copies of an n-slice series."""
    rows: list[tuple[str, str]] = []
    if shutil.which("gdcmconv") is None:
        return [("compressed syntaxes", "skipped: gdcmconv not installed")]
    with tempfile.TemporaryDirectory(prefix="bonecover-bench-c-") as tmp:
        src = Path(tmp) / "native"
        src.mkdir()
        write_series(src, n)
        for flag, name in (
            ("--rle", "RLE lossless"),
            ("--jpeg", "JPEG lossless"),
            ("--jpegls", "JPEG-LS lossless"),
            ("--j2k", "JPEG 2000 lossless"),
        ):
            dst = Path(tmp) / flag.strip("-")
            dst.mkdir()
            for f in src.iterdir():
                subprocess.run(["gdcmconv", flag, str(f), str(dst / f.name)], check=True)
            t_ours, ct = best_of(lambda d=dst: load_ct(d), repeat)
            t_sitk, img = best_of(lambda d=dst: sitk_read(d), repeat)
            same = np.array_equal(ct.volume.array, sitk.GetArrayFromImage(img))  # type: ignore[attr-defined]
            rows.append(
                (
                    f"{name}, 512 x 512 x {n}",
                    f"{t_ours:.2f} s vs SimpleITK {t_sitk:.2f} s: ratio {t_ours / t_sitk:.2f}"
                    f"{'' if same else ' (VOXELS DIFFER)'}",
                )
            )
    return rows


def _table(rows: list[tuple[str, str]]) -> str:
    return "| what | result |\n| --- | --- |\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--phantom",
        type=Path,
        default=None,
        help="also time this series folder (e.g. `bonecover phantom --size clinical` output)",
    )
    parser.add_argument(
        "--compressed",
        type=int,
        default=0,
        metavar="N",
        help="also time N-slice series transcoded by gdcmconv (RLE, JPEG, JPEG-LS, J2K)",
    )
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers to this JSON file")
    args = parser.parse_args()
    command = (f"python bench/bench_loading.py --slices {args.slices} --repeat {args.repeat}"
               f"{' --phantom DIR' if args.phantom else ''}"
               f"{f' --compressed {args.compressed}' if args.compressed else ''}")
    text, numbers = benchmark(args.slices, args.repeat, args.phantom, args.compressed, command)
    print(text)
    if args.json is not None:
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")
    if args.write:
        write_section(text)


def benchmark(slices: int, repeat: int, phantom: Path | None, compressed: int, command: str) -> tuple[str, dict]:
    """Run the loading benchmark; the Markdown section and the numbers."""
    load_avg = os.getloadavg()[0]
    tables = []
    numbers: dict = {"command": command, "repeat": repeat, "load_average_at_start": load_avg, "series": []}
    with tempfile.TemporaryDirectory(prefix="bonecover-bench-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        write_series(folder, slices)
        t_write = time.perf_counter() - t0
        label = f"synthetic 512 x 512 x {slices}, int16, explicit VR LE, shuffled names"
        rows, nums = measure_numbers(folder, repeat, label)
        tables.append(_table(rows))
        numbers["series"].append(nums)
    if phantom is not None:
        shape = load_ct(phantom).volume.shape
        name = f"{phantom.parent.name}/{phantom.name}" if phantom.name.startswith("ct") else phantom.name
        label = f"phantom `{name}`: {shape[2]} x {shape[1]} x {shape[0]} (`bonecover phantom`)"
        rows, nums = measure_numbers(phantom, repeat, label)
        tables.append(_table(rows))
        numbers["series"].append(nums)
    if compressed:
        rows = compressed_rows(compressed, repeat)
        tables.append(_table(rows))
        numbers["compressed"] = [{"what": a, "result": b} for a, b in rows]
    numbers["load_average_at_end"] = os.getloadavg()[0]
    env = (
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `{command}` (best of {repeat}, "
        f"warm page cache) on {platform.machine()} ({os.cpu_count()} cores), Python "
        f"{platform.python_version()}, pydicom {pydicom.__version__}, SimpleITK "
        f"{sitk.Version.VersionString()}; writing the synthetic series took {t_write:.0f} s. "
        f"Load average {load_avg:.1f} at the start, {numbers['load_average_at_end']:.1f} at the end (other jobs "
        "share the machine: ratios vary by +-30 % between runs). Not a timed test: numbers vary by machine and "
        "load. What each tool does: `load_ct` and SimpleITK return the volume in memory with its geometry; "
        "dcm2niix converts the series to a NIfTI file on disk (and a JSON sidecar), so a pipeline built on it "
        "still has to read that file."
    )
    return f"{SECTION}\n\n{env}\n\n" + "\n\n".join(tables) + "\n", numbers


def write_section(text: str) -> None:
    """Replace the loader section of BENCHMARKS.md with ``text``."""
    path = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _m: text + "\n", old)
    else:
        new = old.rstrip() + "\n\n" + text
    path.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
