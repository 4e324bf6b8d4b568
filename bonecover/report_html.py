"""The HTML report: one self-contained page (figures embedded, no network, no scripts)
that a radiologist reads in a minute: key numbers of both sides, QA and warnings,
inputs, method and version, and the figures.

Pure: a report document (the report.json dict) and figure PNG bytes in, an HTML string
out; writing it is :mod:`bonecover.io.report_write`'s job. Every string that comes from
the document (series descriptions and other header text, warnings, methods) is escaped
with :func:`html.escape`. Patient identifiers appear only when the caller passes them
(``bonecover compare --include-phi``).

The key-number table is chosen by ``document["modality"]``: ``CT`` (3-D metrics over the
bone surface) or ``DX`` (2-D metrics along the bone outline on a radiograph); the
comparison table lists whatever comparison keys the document has. A radiograph report
reuses the page by passing its own figures and captions.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["HtmlFigure", "KEY_ROWS", "format_value", "render_report_html"]


@dataclass(frozen=True)
class HtmlFigure:
    """A figure to embed: its caption, its PNG bytes and the file it was written to."""

    caption: str
    png: bytes
    path: str = ""


#: (label, path in a side's metrics) of the key-number table, per modality.
KEY_ROWS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "CT": (
        ("Covered fraction of the bone surface", ("covered_fraction",)),
        ("Exposed bone area", ("exposed_area_mm2",)),
        ("Soft-tissue thickness, mean", ("thickness_mm", "mean")),
        ("Soft-tissue thickness, median", ("thickness_mm", "median")),
        ("Soft-tissue thickness, 5th percentile", ("thickness_mm", "p05")),
        ("Soft-tissue thickness, 95th percentile", ("thickness_mm", "p95")),
        ("Soft-tissue volume within the shell", ("soft_tissue_volume_ml",)),
        ("Bone surface area", ("bone_area_mm2",)),
        ("Bone volume", ("bone_volume_ml",)),
    ),
    "DX": (
        ("Covered fraction of the bone outline", ("covered_fraction",)),
        ("Exposed outline length", ("exposed_contour_mm",)),
        ("Exposed outline length, low end of its band", ("exposed_contour_band_mm", "low")),
        ("Exposed outline length, high end of its band", ("exposed_contour_band_mm", "high")),
        ("Soft-tissue margin, mean", ("margin_mm", "mean")),
        ("Soft-tissue margin, median", ("margin_mm", "median")),
        ("Soft-tissue margin, 5th percentile", ("margin_mm", "p05")),
        ("Soft-tissue margin, 95th percentile", ("margin_mm", "p95")),
        ("Soft-tissue area within the shell", ("soft_tissue_area_mm2",)),
        ("Bone outline length", ("bone_contour_mm",)),
    ),
}

COMPARISON_LABELS = {
    "coverage_ratio": "Coverage ratio (affected / healthy covered fraction)",
    "soft_tissue_deficit_ml": "Soft-tissue deficit (healthy - affected volume)",
    "soft_tissue_deficit_mm2": "Soft-tissue deficit (healthy - affected area)",
    "thickness_deficit_mm": "Thickness deficit (healthy - affected)",
    "margin_deficit_mm": "Margin deficit (healthy - affected)",
}

_STATS = {"mean", "median", "p05", "p95", "low", "high"}
_RATIOS = {"covered_fraction", "coverage_ratio"}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1b1b1b;
background:#fff;line-height:1.4}
main{max-width:1180px;margin:0 auto;padding:18px 24px 40px}
h1{font-size:1.55em;margin:.2em 0 .1em}h2{font-size:1.2em;margin:1.4em 0 .5em;border-bottom:2px solid #ddd;
padding-bottom:.2em}
.sub{color:#555;margin:0 0 .8em}
.headline{font-size:1.12em;background:#f4f6f8;border-left:5px solid #0072B2;padding:.6em .9em;margin:.8em 0}
table{border-collapse:collapse;margin:.3em 0 .8em;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ccc;padding:.3em .65em;text-align:left;vertical-align:top}
th{background:#eef0f2}td.num{text-align:right;white-space:nowrap}
.qa{display:inline-block;padding:.15em .6em;border-radius:4px;font-weight:bold;color:#fff}
.qa-pass{background:#007a4d}.qa-warn{background:#a86b00}.qa-fail{background:#c0392b}
.warn{background:#fff6e0;border-left:5px solid #E69F00;padding:.4em .8em;margin:.3em 0}
figure{margin:1em 0 1.8em}figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{color:#333;margin-top:.35em}
.phi{background:#fdecea;border:1px solid #c0392b;padding:.4em .8em}
.small{color:#666;font-size:.9em}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def format_value(key: str, value: Any, *, unit: bool = True) -> str:
    """A metric as the report shows it: fractions to 3 decimals, mm to 2, mm² to 1, mL to 2.

    ``key`` is the metric's key (for statistics: the key of the statistic's parent,
    e.g. ``thickness_mm``); the unit follows from its suffix. ``None`` shows as an em dash.
    """
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value is None else _esc(value)
    v = float(value)
    if key in _RATIOS or key.endswith("_fraction") or key.endswith("_ratio"):
        return f"{v:.3f}"
    if key.endswith("_mm2"):
        return f"{v:.1f}" + (" mm²" if unit else "")
    if key.endswith("_ml"):
        return f"{v:.2f}" + (" mL" if unit else "")
    if key.endswith("_mm"):
        return f"{v:.2f}" + (" mm" if unit else "")
    return f"{v:.4g}"


def _get(doc: Mapping[str, Any], path: Sequence[str]) -> Any:
    cur: Any = doc
    for p in path:
        if not isinstance(cur, Mapping) or p not in cur:
            return None
        cur = cur[p]
    return cur


def _unit_key(path: Sequence[str]) -> str:
    return path[-2] if path[-1] in _STATS and len(path) > 1 else path[-1]


def _side_label(doc: Mapping[str, Any], role: str) -> str:
    side = doc.get("affected_side")
    if side not in ("left", "right"):
        return role
    other = "left" if side == "right" else "right"
    return f"Affected ({side})" if role == "affected" else f"Healthy ({other}, mirrored)"


def _key_table(doc: Mapping[str, Any]) -> str:
    rows = KEY_ROWS.get(str(doc.get("modality", "CT")).upper(), KEY_ROWS["CT"])
    out = [f"<table><tr><th>measure</th><th>{_esc(_side_label(doc, 'affected'))}</th>"
           f"<th>{_esc(_side_label(doc, 'healthy'))}</th></tr>"]
    for label, path in rows:
        key = _unit_key(path)
        a = format_value(key, _get(doc, ("affected", *path)))
        h = format_value(key, _get(doc, ("healthy", *path)))
        out.append(f"<tr><td>{_esc(label)}</td><td class=num>{a}</td><td class=num>{h}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _band_note(doc: Mapping[str, Any]) -> str:
    """A radiograph's exposed-outline band, in words (empty for CT)."""
    u = _get(doc, ("affected", "exposed_contour_band_mm", "margin_uncertainty_mm"))
    if u is None:
        return ""
    about = format_value("margin_uncertainty_mm", u)
    return (f"<p class=small>In a projection a margin near the skin is uncertain by about {about}: "
            "where a wound face cuts bone and skin together their edges merge. The band is the exposed outline "
            "length if every margin were that much longer (low end) or shorter (high end).</p>")


def _comparison_table(doc: Mapping[str, Any]) -> str:
    comp = doc.get("comparison") or {}
    out = ["<table><tr><th>comparison</th><th>value</th></tr>"]
    for key, value in comp.items():
        label = COMPARISON_LABELS.get(key, key.replace("_", " "))
        if isinstance(value, Mapping):
            for stat, v in value.items():
                out.append(f"<tr><td>{_esc(label)}, {_esc(stat)}</td><td class=num>{format_value(key, v)}</td></tr>")
        else:
            out.append(f"<tr><td>{_esc(label)}</td><td class=num>{format_value(key, value)}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _regions_table(doc: Mapping[str, Any]) -> str:
    a_reg, h_reg = _get(doc, ("affected", "regions")), _get(doc, ("healthy", "regions"))
    if not isinstance(a_reg, Mapping):
        return ""
    ct = str(doc.get("modality", "CT")).upper() != "DX"
    exp_key = "exposed_area_mm2" if ct else "exposed_contour_mm"
    stat_key = "thickness_mm" if ct else "margin_mm"
    out = [f"<table><tr><th>region</th><th>exposed, affected</th><th>exposed, healthy</th>"
           f"<th>mean {'thickness' if ct else 'margin'}, affected</th><th>mean {'thickness' if ct else 'margin'}, "
           "healthy</th><th>covered fraction, affected</th><th>covered fraction, healthy</th></tr>"]
    h_reg = h_reg if isinstance(h_reg, Mapping) else {}
    for name, a in a_reg.items():
        h = h_reg.get(name, {})
        out.append(
            f"<tr><td>{_esc(name)}</td><td class=num>{format_value(exp_key, a.get(exp_key))}</td>"
            f"<td class=num>{format_value(exp_key, h.get(exp_key))}</td>"
            f"<td class=num>{format_value(stat_key, _get(a, (stat_key, 'mean')))}</td>"
            f"<td class=num>{format_value(stat_key, _get(h, (stat_key, 'mean')))}</td>"
            f"<td class=num>{format_value('covered_fraction', a.get('covered_fraction'))}</td>"
            f"<td class=num>{format_value('covered_fraction', h.get('covered_fraction'))}</td></tr>")
    out.append("</table>")
    return "".join(out)


_INPUT_KEYS = (("description", "series description"), ("date", "date"), ("modality", "modality"),
               ("body_part", "body part"), ("laterality", "laterality"), ("patient_position", "patient position"),
               ("spacing_mm", "voxel spacing"), ("pixel_spacing_mm", "pixel spacing"), ("n_slices", "slices"),
               ("manufacturer", "manufacturer"), ("foot_side_from", "foot side decided by"),
               ("resampled", "resampled onto a regular grid"), ("series_uid", "series UID"))


def _input_value(key: str, value: Any) -> str:
    if key == "date" and isinstance(value, str) and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    if key.endswith("spacing_mm") and isinstance(value, list | tuple):
        return " × ".join(f"{float(v):.3g}" for v in value) + " mm"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _inputs_table(doc: Mapping[str, Any]) -> str:
    inputs = doc.get("inputs") or {}
    roles = [r for r in ("affected", "healthy") if isinstance(inputs.get(r), Mapping)]
    if not roles:
        return "<p>not recorded</p>"
    out = ["<table><tr><th></th>" + "".join(f"<th>{_esc(_side_label(doc, r))} foot</th>" for r in roles) + "</tr>"]
    for key, label in _INPUT_KEYS:
        values = [inputs[r].get(key) for r in roles]
        if all(v in (None, "", []) for v in values):
            continue
        cells = "".join(f"<td>{_esc(_input_value(key, v)) if v not in (None, '') else '—'}</td>" for v in values)
        out.append(f"<tr><td>{_esc(label)}</td>{cells}</tr>")
    out.append("</table>")
    return "".join(out)


def _headline(doc: Mapping[str, Any]) -> str:
    ct = str(doc.get("modality", "CT")).upper() != "DX"
    exp_key = "exposed_area_mm2" if ct else "exposed_contour_mm"
    stat = "thickness_mm" if ct else "margin_mm"
    parts = []
    for role in ("affected", "healthy"):
        parts.append(f"<b>{_esc(_side_label(doc, role))}</b>: covered "
                     f"{format_value('covered_fraction', _get(doc, (role, 'covered_fraction')))}, exposed "
                     f"{format_value(exp_key, _get(doc, (role, exp_key)))}, mean {'cover' if ct else 'margin'} "
                     f"{format_value(stat, _get(doc, (role, stat, 'mean')))}")
    ratio = format_value("coverage_ratio", _get(doc, ("comparison", "coverage_ratio")))
    return "<div class=headline>" + "<br>".join(parts) + f"<br><b>Coverage ratio</b> {ratio}</div>"


def _qa(doc: Mapping[str, Any]) -> str:
    reg = doc.get("registration") or {}
    qa = str(reg.get("qa", "unknown")).lower()
    cls = qa if qa in ("pass", "warn", "fail") else "warn"
    text = {"pass": "the registration can be trusted", "warn": "check the registration figure before trusting "
            "the comparison", "fail": "the comparison is not trustworthy"}.get(qa, "")
    residual = format_value("residual_mm", reg.get("residual_mm"))
    th = reg.get("qa_thresholds_mm") or {}
    limits = (f" (pass below {format_value('x_mm', th.get('pass_below'))}, fail above "
              f"{format_value('x_mm', th.get('fail_above'))})") if th else ""
    out = [f"<p><span class='qa qa-{cls}'>QA {_esc(qa.upper())}</span> {_esc(text)}; registration residual "
           f"on the hallux {residual}{_esc(limits)}.</p>"]
    warnings = doc.get("warnings") or []
    if warnings:
        out += [f"<div class=warn>{_esc(w)}</div>" for w in warnings]
    else:
        out.append("<p>No warnings.</p>")
    return "".join(out)


def _method(doc: Mapping[str, Any]) -> str:
    reg = doc.get("registration") or {}
    items = [("bonecover version", doc.get("bonecover_version")), ("report schema", doc.get("schema")),
             ("modality", doc.get("modality")),
             ("exposed when cover is below", format_value("min_cover_mm", doc.get("min_cover_mm"))),
             ("soft-tissue shell", format_value("shell_mm", doc.get("shell_mm"))),
             ("registration", reg.get("method")),
             ("affected hallux found by", _get(doc, ("affected", "hallux", "found_by"))),
             ("healthy hallux found by", _get(doc, ("healthy", "hallux", "found_by")))]
    for key in ("magnification", "measured_in"):
        if key in doc:
            items.append((key.replace("_", " "), doc[key]))
    timings = doc.get("timings_s") or {}
    if timings:
        items.append(("run time", ", ".join(f"{k} {float(v):.1f} s" for k, v in timings.items())))
    rows = "".join(f"<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>" for k, v in items if v not in (None, ""))
    return f"<table>{rows}</table>"


def _patient(patient: Mapping[str, Any] | None) -> str:
    if not patient:
        return ""
    labels = (("name", "patient name"), ("patient_id", "patient ID"), ("birth_date", "birth date"), ("sex", "sex"))
    rows = "".join(f"<tr><td>{_esc(label)}</td><td>{_esc(patient.get(key, ''))}</td></tr>" for key, label in labels
                   if patient.get(key))
    return f"<div class=phi><b>Patient identifiers (included on request)</b><table>{rows}</table></div>"


def _figures(figures: Sequence[HtmlFigure]) -> str:
    out = []
    for i, fig in enumerate(figures, start=1):
        data = base64.b64encode(fig.png).decode("ascii")
        name = f" <span class=small>({_esc(fig.path)})</span>" if fig.path else ""
        out.append(f"<figure><img src=\"data:image/png;base64,{data}\" alt=\"{_esc(fig.caption)}\">"
                   f"<figcaption><b>Figure {i}.</b> {_esc(fig.caption)}{name}</figcaption></figure>")
    return "".join(out) or "<p>No figures were drawn.</p>"


def render_report_html(document: Mapping[str, Any], figures: Sequence[HtmlFigure] = (), *,
                       patient: Mapping[str, Any] | None = None, title: str | None = None) -> str:
    """The self-contained HTML report of a comparison.

    Parameters
    ----------
    document : the report document (``report.json``; schema ``bonecover.report/1``).
    figures : figures to embed, in order, with captions (PNG bytes, embedded as data URIs).
    patient : patient identifiers (``name``, ``patient_id``, ``birth_date``, ``sex``) to show;
        only pass them when the user asked for them (``--include-phi``).
    title : page title; default says what was compared.

    Returns
    -------
    The page as a string: no scripts, no external resources (a Content-Security-Policy
    forbids loading any), every document string escaped.
    """
    modality = str(document.get("modality", "CT")).upper()
    what = "radiograph" if modality == "DX" else "CT"
    title = title or f"bonecover: hallux soft-tissue coverage ({what}), affected vs mirrored healthy foot"
    desc = _get(document, ("inputs", "affected", "description")) or ""
    date = _input_value("date", _get(document, ("inputs", "affected", "date")) or "")
    sub = " · ".join(_esc(s) for s in (desc, date) if s)
    min_cover = format_value("min_cover_mm", document.get("min_cover_mm"))
    return "".join([
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'\">",
        "<meta name=viewport content=\"width=device-width, initial-scale=1\">",
        f"<title>{_esc(title)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{_esc(title)}</h1><p class=sub>{sub}</p>",
        _patient(patient),
        _headline(document),
        _qa(document),
        "<h2>Key numbers</h2>",
        f"<p class=small>Bone counts as exposed where its soft-tissue cover is below {min_cover}. "
        "Statistics are weighted by bone-surface area (CT) or outline length (radiograph).</p>",
        _band_note(document),
        _key_table(document),
        _comparison_table(document),
        "<h2>Regions</h2>" + _regions_table(document) if _get(document, ("affected", "regions")) else "",
        "<h2>Figures</h2>",
        _figures(figures),
        "<h2>Inputs</h2>",
        _inputs_table(document),
        "<h2>Method</h2>",
        _method(document),
        "<p class=small>Produced by bonecover; not a medical device. Numbers describe the images as analysed.</p>",
        "</main></body></html>\n",
    ])
