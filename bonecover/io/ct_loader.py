"""Reading one CT series into a :class:`~bonecover.volume.Volume` with exact LPS geometry.

:func:`load_ct` accepts a folder (searched recursively), a single DICOM file (its
series, or an enhanced multi-frame file) or a research volume (``.nii``,
``.nii.gz``, ``.nrrd``, ``.mha``, ``.mhd``). Slices are ordered by their position
along the slice normal, rescaled to HU one by one, checked for duplicates and gaps,
and -- when the stack is not a regular orthogonal grid (non-uniform steps, gantry
tilt) -- resampled onto one, with a warning. Every problem with the input raises
:class:`~bonecover.errors.InputError` with a one-line message.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bonecover.errors import InputError
from bonecover.io.dicom_discovery import (
    RESEARCH_SUFFIXES,
    Inventory,
    PatientIdentity,
    SeriesEntry,
    SeriesKind,
    SliceHeader,
    discover,
)
from bonecover.io.dicom_pixels import (
    check_declared_size,
    read_dataset,
    read_frames,
    read_native_frames,
)
from bonecover.io.stack_geometry import StackGeometry, analyse_stack, resample_stack
from bonecover.volume import Volume

__all__ = ["SeriesInfo", "LoadedCT", "load_ct", "is_research_volume"]

logger = logging.getLogger(__name__)

#: HU written where a resampled grid lies outside every acquired slice (air).
AIR_HU = -1024.0


@dataclass(frozen=True)
class SeriesInfo:
    """Facts about the series a volume came from (no patient identifiers in ``repr``).

    Attributes
    ----------
    study_uid, series_uid, frame_of_reference_uid : DICOM UIDs ('' for research volumes).
    modality, description, date, body_part, laterality, patient_position,
        manufacturer : header facts ('' when absent).
    spacing_mm : (3,) voxel size of the returned volume along i, j, k, mm.
    n_slices : number of slices read from the files (before any resampling).
    gantry_tilt_deg : tilt found from the slice positions, degrees (0 if none).
    resampled : True when the volume was interpolated onto a regular grid.
    files : the files read.
    source : ``"dicom"`` or the research format (``"nifti"``, ``"nrrd"``, ``"metaimage"``).
    patient : identifiers; kept apart and never logged by default.
    """

    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    modality: str
    description: str
    date: str
    body_part: str
    laterality: str
    patient_position: str
    manufacturer: str
    spacing_mm: tuple[float, float, float]
    n_slices: int
    gantry_tilt_deg: float
    resampled: bool
    files: tuple[Path, ...] = field(repr=False)
    source: str = "dicom"
    patient: PatientIdentity = field(repr=False, default_factory=PatientIdentity)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready series facts for a report (no patient identifiers)."""
        return {
            "source": self.source,
            "study_uid": self.study_uid,
            "series_uid": self.series_uid,
            "frame_of_reference_uid": self.frame_of_reference_uid,
            "modality": self.modality,
            "description": self.description,
            "date": self.date,
            "body_part": self.body_part,
            "laterality": self.laterality,
            "patient_position": self.patient_position,
            "manufacturer": self.manufacturer,
            "spacing_mm": list(self.spacing_mm),
            "n_slices": self.n_slices,
            "gantry_tilt_deg": self.gantry_tilt_deg,
            "resampled": self.resampled,
            "n_files": len(self.files),
        }


@dataclass(frozen=True)
class LoadedCT:
    """A CT volume in HU with where it came from.

    Attributes
    ----------
    volume : HU, ``int16`` when rescale slopes/intercepts are integral and the
        values fit, otherwise ``float32``; LPS affine.
    info : series facts.
    warnings : one-line warnings (resampling, skipped files, duplicates ...).
    load_seconds : wall time spent loading.
    """

    volume: Volume
    info: SeriesInfo
    warnings: tuple[str, ...]
    load_seconds: float = 0.0


def is_research_volume(path: Path) -> bool:
    """True when ``path`` names a NIfTI, NRRD or MetaImage file by its ending."""
    name = Path(path).name.lower()
    return any(name.endswith(sfx) for sfx in RESEARCH_SUFFIXES)


def load_ct(
    path: Path,
    *,
    series_uid: str | None = None,
    allow_gaps: bool = False,
    inventory: Inventory | None = None,
) -> LoadedCT:
    """Load a CT volume in HU with its exact patient geometry.

    Parameters
    ----------
    path : a folder (searched recursively), a DICOM file (its series is loaded; an
        enhanced multi-frame file is a series by itself), or a ``.nii``, ``.nii.gz``,
        ``.nrrd``, ``.mha`` or ``.mhd`` volume.
    series_uid : series key or SeriesInstanceUID to load (``--series``); None picks
        automatically (see :meth:`Inventory.choose`).
    allow_gaps : accept slices missing from the stack; the gap is interpolated
        across and a warning recorded. Otherwise a gap raises InputError.
    inventory : a :func:`discover` result for ``path`` to reuse (saves a scan).

    Returns
    -------
    LoadedCT

    Raises
    ------
    InputError
        Missing path, nothing to load, or a series that cannot give a trustworthy
        volume (missing geometry, mixed pixel spacing, a single slice, a gap,
        conflicting duplicates, damaged pixel data, absurd sizes).
    """
    t0 = time.perf_counter()
    path = Path(path)
    if is_research_volume(path):
        from bonecover.io.research_volume import load_research_volume

        loaded = load_research_volume(path)
        return LoadedCT(loaded.volume, loaded.info, loaded.warnings, time.perf_counter() - t0)

    entry, inv = _select_series(path, series_uid, inventory)
    logger.info("loading CT series %s", entry.summary())
    volume, tilt, resampled, messages, files = _load_series(
        entry, allow_gaps=allow_gaps, context=_context(entry, inv)
    )
    for msg in messages:
        logger.warning("%s", msg)
    info = SeriesInfo(
        study_uid=entry.study_uid,
        series_uid=entry.series_uid,
        frame_of_reference_uid=entry.frame_of_reference_uid,
        modality=entry.modality,
        description=entry.description,
        date=entry.date,
        body_part=entry.body_part,
        laterality=entry.laterality,
        patient_position=entry.patient_position,
        manufacturer=entry.manufacturer,
        spacing_mm=tuple(float(v) for v in volume.spacing_mm),  # type: ignore[arg-type]
        n_slices=entry.n_slices,
        gantry_tilt_deg=tilt,
        resampled=resampled,
        files=files,
        source="dicom",
        patient=entry.patient,
    )
    seconds = time.perf_counter() - t0
    logger.info("loaded %r in %.2f s", volume, seconds)
    return LoadedCT(volume, info, tuple(messages), seconds)


def _context(entry: SeriesEntry, inv: Inventory | None) -> str:
    """What else in the folder may explain a missing slice (split parts, unreadable files)."""
    if inv is None:
        return ""
    notes = []
    others = [s for s in inv.series if s.series_uid == entry.series_uid and s.key != entry.key]
    if others:
        names = ", ".join(f.name for s in others for f in s.files[:2])
        n = sum(s.n_slices for s in others)
        notes.append(
            f"the series also holds {n} image(s) of another size or orientation ({names}): "
            "damaged headers?"
        )
    bad = [s for s in inv.skipped if s.reason.startswith("unreadable")]
    if bad:
        names = ", ".join(s.path.name for s in bad[:3])
        notes.append(f"{len(bad)} unreadable file(s) were skipped ({names})")
    return "; ".join(notes)


def _select_series(
    path: Path, series_uid: str | None, inventory: Inventory | None
) -> tuple[SeriesEntry, Inventory | None]:
    if not path.exists():
        raise InputError(
            f"{path} does not exist; give a DICOM folder or file, or a NIfTI/NRRD/MHA volume"
        )
    if path.is_file() and series_uid is None and inventory is None:
        single = discover(path)
        if not single.series:
            reason = single.skipped[0].reason if single.skipped else "not a DICOM image"
            raise InputError(f"{path}: {reason}; give a CT series folder or file")
        entry = single.series[0]
        if entry.kind != SeriesKind.CT_VOLUME:
            raise InputError(
                f"{path} is a {entry.kind.replace('_', ' ')} ({entry.modality or 'no modality'}), "
                "not a CT image; give the CT series"
            )
        if entry.n_frames_declared > 1:  # an enhanced multi-frame file is a series by itself
            return entry, single
        inv = discover(path.parent)
        for e in inv.series:
            if path in e.files or path.resolve() in {f.resolve() for f in e.files}:
                return e, inv
        return entry, single
    inv = inventory if inventory is not None else discover(path)
    choice = inv.choose(series_uid, modality="CT")
    logger.info("chosen: %s", choice.reason)
    return choice.series, inv


def _check_entry(entry: SeriesEntry) -> None:
    where = f"series {entry.key}"
    check_declared_size(
        entry.rows, entry.cols, max(entry.n_slices, entry.n_frames_declared), where=where
    )
    if entry.n_slices < 2:
        raise InputError(
            f"{where} has a single slice ({entry.files[0] if entry.files else '?'}): not a volume; "
            "give the whole CT series (or choose another with --series)"
        )
    for s in entry.slices:
        missing = [
            name
            for name, value in (
                ("ImagePositionPatient", s.position_mm),
                ("ImageOrientationPatient", s.orientation),
                ("PixelSpacing", s.pixel_spacing_mm),
            )
            if value is None
        ]
        if missing:
            raise InputError(
                f"{where}: {s.path} lacks geometry tag(s) {', '.join(missing)}; "
                "without them the slices cannot be placed: re-export the series with full headers"
            )
    spacings = np.array([s.pixel_spacing_mm for s in entry.slices], dtype=float)
    if np.max(np.abs(spacings - spacings[0])) > 1e-4 * max(1.0, float(spacings[0].max())):
        other = next(
            s
            for s in entry.slices
            if np.max(np.abs(np.asarray(s.pixel_spacing_mm) - spacings[0])) > 1e-4
        )
        raise InputError(
            f"{where}: pixel spacing differs within the series ({spacings[0].tolist()} mm in "
            f"{entry.slices[0].path.name}, {list(other.pixel_spacing_mm or ())} mm in "
            f"{other.path.name}); "
            "the files belong to different reconstructions: export one reconstruction"
        )
    orients = np.array([s.orientation for s in entry.slices], dtype=float)
    if np.max(np.abs(orients - orients[0])) > 1e-3:
        raise InputError(
            f"{where}: ImageOrientationPatient differs within the series; "
            "export one reconstruction or choose another series with --series"
        )


def _load_series(
    entry: SeriesEntry, *, allow_gaps: bool, context: str = ""
) -> tuple[Volume, float, bool, list[str], tuple[Path, ...]]:
    _check_entry(entry)
    where = f"series {entry.key}"
    messages: list[str] = []
    before = analyse_stack(
        np.array([s.position_mm for s in entry.slices], dtype=float),
        np.asarray(entry.slices[0].orientation),
        np.asarray(entry.slices[0].pixel_spacing_mm),
    )
    slices, pixels, damaged = _read_pixels(entry, before.order)
    if damaged:
        names = ", ".join(f"{p.name} ({why})" for p, why in damaged[:3])
        messages.append(
            f"{where}: skipped {len(damaged)} damaged file(s): {names}"
            + (" ..." if len(damaged) > 3 else "")
        )
    if len(slices) < 2:
        first = f"{damaged[0][0].name}: {damaged[0][1]}" if damaged else "?"
        raise InputError(
            f"{where}: fewer than 2 readable slices remain after skipping {len(damaged)} "
            f"damaged file(s) ({first}); re-export the series"
        )
    orientation = np.asarray(slices[0].orientation)
    spacing = np.asarray(slices[0].pixel_spacing_mm)
    geo = analyse_stack(
        np.array([s.position_mm for s in slices], dtype=float), orientation, spacing
    )
    if np.array_equal(geo.order, np.arange(len(slices))):
        stack = pixels  # read in normal order already: no copy
    else:
        stack = pixels[geo.order]
        slices = [slices[i] for i in geo.order]
    if geo.duplicates:
        stack, slices, geo, dup_msg = _drop_duplicates(stack, slices, geo, where)
        messages.append(dup_msg)
    if geo.gaps:
        new_gap = len(geo.gaps) > len(before.gaps)
        detail = geo.gaps[0].describe()
        if damaged and new_gap:
            names = ", ".join(f"{p.name} ({why})" for p, why in damaged[:3])
            raise InputError(
                f"{where}: damaged file(s) {names} leave a {detail}; "
                "replace the damaged files or re-export the series"
            )
        if not allow_gaps:
            more = f" (and {len(geo.gaps) - 1} more)" if len(geo.gaps) > 1 else ""
            ctx = f" ({context})" if context else ""
            raise InputError(
                f"{where}: slices are missing: {detail}{more}{ctx}; re-export the complete "
                "series, or pass --allow-gaps to interpolate across it"
            )
        messages.append(
            f"{where}: {len(geo.gaps)} gap(s) interpolated across (--allow-gaps): {detail}"
        )
    tilt = geo.tilt_deg
    if geo.regular:
        volume = Volume(stack, geo.affine())
        return volume, 0.0 if not geo.shifted else tilt, False, messages, entry.files
    reasons = []
    if not geo.uniform:
        steps = geo.steps_mm
        reasons.append(f"non-uniform slice spacing ({steps.min():.2f} to {steps.max():.2f} mm)")
    if geo.shifted:
        declared = _declared_tilt(entry)
        reasons.append(
            f"gantry tilt {tilt:.1f} deg"
            + (f" (header says {declared:g} deg)" if declared is not None else "")
        )
    fill = min(AIR_HU, float(stack.min()))
    resampled, affine = resample_stack(stack, geo, fill_value=fill)
    volume = Volume(resampled, affine)
    messages.append(
        f"{where}: {' and '.join(reasons)}; resampled onto a regular orthogonal grid of "
        f"{volume.shape[0]} slices at {volume.spacing_mm[2]:.3f} mm"
    )
    return volume, tilt, True, messages, entry.files


def _declared_tilt(entry: SeriesEntry) -> float | None:
    try:
        from bonecover.io.dicom_discovery import read_header

        value = read_header(entry.files[0]).get("GantryDetectorTilt", None)
        return float(value) if value not in (None, "") else None
    except Exception:  # noqa: BLE001 - informative only
        return None


def _read_pixels(
    entry: SeriesEntry, order: np.ndarray
) -> tuple[list[SliceHeader], np.ndarray, list[tuple[Path, str]]]:
    """Read and rescale every slice straight into its place in normal order.

    Parameters
    ----------
    entry : the series.
    order : indices of ``entry.slices`` sorted along the slice normal.

    Returns
    -------
    (slices, hu, damaged)
        The readable slices in normal order, their HU as ``(n, rows, cols)``, and the
        damaged files with the reason.
    """
    n_all = len(entry.slices)
    slot = np.empty(n_all, dtype=np.intp)
    slot[order] = np.arange(n_all)
    by_file: dict[Path, list[int]] = {}
    for i in order:
        by_file.setdefault(entry.slices[i].path, []).append(int(i))
    integral = all(
        float(s.slope).is_integer() and float(s.intercept).is_integer() for s in entry.slices
    )
    out = np.empty((n_all, entry.rows, entry.cols), dtype=np.int16 if integral else np.float32)
    filled = np.zeros(n_all, dtype=bool)
    damaged: list[tuple[Path, str]] = []
    buffer: np.ndarray | None = None
    for file, indices in by_file.items():
        h0 = entry.slices[indices[0]]
        frames = read_native_frames(
            file,
            rows=h0.rows,
            cols=h0.cols,
            frames=h0.n_frames,
            pixel_format=h0.pixel_format,
            buffer=buffer,
        )
        if frames is not None:
            buffer = frames.base if frames.base is not None and frames.base.ndim == 1 else None
        else:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ds = read_dataset(file)
                    frames = read_frames(ds, path=file)
            except InputError as exc:
                damaged.append((file, str(exc).split(": ", 1)[-1].split(";")[0]))
                continue
        if frames.shape[1:] != (entry.rows, entry.cols):
            raise InputError(
                f"series {entry.key}: {file} holds {frames.shape[1]} x {frames.shape[2]} pixels, "
                f"the rest of the series {entry.rows} x {entry.cols}; re-export the series"
            )
        for i in indices:
            h = entry.slices[i]
            if h.frame >= frames.shape[0]:
                damaged.append((file, f"frame {h.frame} missing"))
                continue
            out = _rescale_into(out, int(slot[i]), frames[h.frame], h.slope, h.intercept)
            filled[slot[i]] = True
    kept = [entry.slices[i] for i in order if filled[slot[i]]]
    if not filled.all():
        out = out[filled]
    return kept, out, damaged


def _rescale_into(
    out: np.ndarray, n: int, stored: np.ndarray, slope: float, intercept: float
) -> np.ndarray:
    """Write HU = stored * slope + intercept into ``out[n]``; widen ``out`` to float32 if needed.

    Returns the (possibly new) output array.
    """
    if out.dtype == np.int16:
        lo, hi = int(stored.min()), int(stored.max())
        ends = (lo * slope + intercept, hi * slope + intercept)
        if min(ends) >= -32768 and max(ends) <= 32767:
            if slope == 1:
                np.add(stored, np.int32(intercept), out=out[n], casting="unsafe")
            else:
                out[n] = stored.astype(np.int32) * np.int32(slope) + np.int32(intercept)
            return out
        out = out.astype(np.float32)
    np.multiply(stored, np.float32(slope), out=out[n], casting="unsafe")
    out[n] += np.float32(intercept)
    return out


def _drop_duplicates(
    stack: np.ndarray, slices: list[SliceHeader], geo: StackGeometry, where: str
) -> tuple[np.ndarray, list[SliceHeader], StackGeometry, str]:
    drop: set[int] = set()
    for i, j in geo.duplicates:
        same_instance = (
            slices[i].sop_instance_uid == slices[j].sop_instance_uid
            and slices[i].frame == slices[j].frame
        )
        if same_instance or np.array_equal(stack[i], stack[j]):
            drop.add(j)
            continue
        raise InputError(
            f"{where}: two different images share the slice position {geo.normal_mm[i]:.2f} mm "
            f"along the normal ({slices[i].path.name}, {slices[j].path.name}); the series mixes "
            "reconstructions or acquisitions: export one, or choose it with --series"
        )
    keep = np.array([k for k in range(len(slices)) if k not in drop])
    kept = [slices[k] for k in keep]
    new_geo = analyse_stack(
        np.array([s.position_mm for s in kept], dtype=float),
        np.asarray(kept[0].orientation),
        np.asarray(kept[0].pixel_spacing_mm),
    )
    msg = f"{where}: dropped {len(drop)} duplicate slice(s) (identical copies at the same position)"
    return stack[keep][new_geo.order], [kept[k] for k in new_geo.order], new_geo, msg
