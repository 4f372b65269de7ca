"""Compare runs: every headline metric side by side, the differences, and whether each exceeds its
confidence interval; overlay plots. Reads only the runs' metrics.json files. A run that did not
finish or overlapped other runs is flagged at the top, as in its own report.

Significance: when both runs carry repeats (2+ values each), a bootstrap CI of the difference of
means is computed and the difference "exceeds its CI" when that interval excludes 0. When only one run
has repeats, the other's value is checked against that run's CI. Single runs have no CI, and the
comparison says so once instead of guessing. A difference is coloured (better / worse) only when
it exceeds its CI: an uncoloured cell is a difference that may be noise.

The comparison opens with every compared run's validity warnings
(:mod:`experiments.report.validity`), and with a warning when the specs differ in their retry
policy but a run never exercised it. The spec differences compare normalised values (45 and 45.0
are equal; so are null, [] and a missing key).

Each run's audit verdict (its report folder's audit.json, :mod:`experiments.report.audit_view`)
is listed beside its status. The page and report.md link back to the reports index, two folders
up (:data:`INDEX_HREF`).
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from experiments.metrics.headline import HEADLINES, Headline, format_value
from experiments.metrics.redact import redact
from experiments.metrics.repeats import bootstrap_diff_ci
from experiments.metrics.schema import SCHEMA_VERSION, RunMetrics
from experiments.metrics.store import read_metrics
from experiments.report.audit_view import read_audit, verdict_cell
from experiments.report.document import Document, Image, Paragraph, Section, Table
from experiments.report.html import to_html
from experiments.report.index import COMPARE_FILE, INDEX_FILE
from experiments.report.markdown import to_markdown
from experiments.report.plots import overlay_plots
from experiments.report.validity import ValidityWarning, untested_difference
from experiments.report.validity import run_warnings as validity_warnings

log = logging.getLogger(__name__)

#: a comparison's link to the reports index: the comparison is reports/compare/<name>/index.html
INDEX_HREF = posixpath.join(os.pardir, os.pardir, INDEX_FILE)

OVERLAY_CAPTIONS = {
    "latency_cdf": "End-to-end latency CDFs, one curve per run.",
    "throughput": "Throughput and goodput over time per run.",
    "retries": "Failed LLM attempts over time per run.",
}

#: headlines the comparison's sentences talk about, in order
NARRATED = (
    "e2e_p50_s",
    "e2e_p99_s",
    "amplification",
    "retry_wait_mean_s",
    "recovery_rate",
    "dlq_rate",
    "goodput_qps",
)


def _entry(metrics: RunMetrics, key: str) -> dict[str, Any]:
    """A run's figure for one headline: the repeats' mean and CI when present, else the single value."""
    repeats = metrics.repeat_stats()
    rep = repeats.metrics.get(key) if repeats is not None else None
    if rep is not None and rep.mean is not None:
        return {
            "value": rep.mean,
            "ci": [rep.ci_low, rep.ci_high] if rep.ci_low is not None else None,
            "values": list(rep.values),
        }
    return {"value": metrics.headline.get(key), "ci": None, "values": []}


def _verdict(base: Mapping[str, Any], other: Mapping[str, Any], seed: int) -> dict[str, Any]:
    a, b = base["value"], other["value"]
    if a is None or b is None:
        return {"abs": None, "rel": None, "exceeds_ci": None, "basis": "not measured"}
    diff = b - a
    rel = diff / abs(a) if a else None
    out: dict[str, Any] = {"abs": diff, "rel": rel}
    ci = bootstrap_diff_ci(base["values"], other["values"], seed=seed)
    if ci is not None:
        _, lo, hi = ci
        out.update(
            exceeds_ci=not (lo <= 0.0 <= hi),
            basis="bootstrap CI of the difference",
            diff_ci=[lo, hi],
        )
    elif base["ci"] is not None:
        lo, hi = base["ci"]
        out.update(exceeds_ci=not (lo <= b <= hi), basis="baseline's CI only")
    elif other["ci"] is not None:
        lo, hi = other["ci"]
        out.update(exceeds_ci=not (lo <= a <= hi), basis="this run's CI only")
    else:
        out.update(exceeds_ci=None, basis="no CI (single runs)")
    return out


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, Mapping):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): d}


def normalise(value: Any) -> Any:
    """A spec value in a form where equal settings compare equal: numbers as floats (45 and
    45.0), empty containers as None (null, [] and {} for "none"), containers element-wise."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, Mapping):
        items = {str(k): normalise(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v is not None} or None
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value] or None
    return value


def spec_differences(specs: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Spec fields (dotted paths) whose normalised values (:func:`normalise`) differ between runs
    (name/seed-like fields included); the values are listed as each spec has them (None where
    missing)."""
    flat = [_flatten(redact(dict(s))) for s in specs]
    keys = sorted(set().union(*flat)) if flat else []
    return {
        k: [f.get(k) for f in flat]
        for k in keys
        if len({json.dumps(normalise(f.get(k)), sort_keys=True) for f in flat}) > 1
    }


def _names(metrics: Sequence[RunMetrics], dirs: Sequence[Path]) -> list[str]:
    names: list[str] = []
    for m, d in zip(metrics, dirs, strict=True):
        name = m.run.run_name or d.name
        names.append(name if name not in names else f"{name} ({d.name})")
    return names


def _fmt_diff(h: Headline, v: Mapping[str, Any]) -> tuple[str, str]:
    if v["abs"] is None:
        return "n/a", "n/a"
    unit, d = h.unit, v["abs"]
    if unit == "ratio":
        absolute = f"{d * 100:+.1f} pp"
    elif unit == "s":
        absolute = ("+" if d >= 0 else "-") + format_value(h.key, abs(d))
    elif unit == "1/s":
        absolute = f"{d:+.2f}/s"
    elif unit == "x":
        absolute = f"{d:+.2f}x"
    elif unit == "count":
        absolute = f"{d:+,.0f}"
    else:
        absolute = f"{d:+.3f}"
    rel = "n/a" if v["rel"] is None else f"{v['rel'] * 100:+.1f}%"
    return absolute, rel


def _verdict_text(v: Mapping[str, Any]) -> str:
    if v.get("exceeds_ci") is None:
        return "n/a" if v["abs"] is None else "no CI"
    return ("yes" if v["exceeds_ci"] else "no") + f" ({v['basis']})"


def diff_css(h: Headline, v: Mapping[str, Any]) -> str:
    """``better`` or ``worse`` for a difference that exceeds its uncertainty (its CI verdict is
    True); '' for one within it, without an interval (single runs), or without a direction."""
    if v["abs"] is None or h.better is None or v["abs"] == 0 or v.get("exceeds_ci") is not True:
        return ""
    good = (v["abs"] < 0) == (h.better == "lower")
    return "better" if good else "worse"


def _no_interval(names: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The runs compared with the baseline without any interval (both single runs)."""
    return [
        n
        for n in names[1:]
        if all(r["diffs"][n].get("exceeds_ci") is None for r in rows)
        and any(r["diffs"][n]["abs"] is not None for r in rows)
    ]


def _sentences(names: list[str], rows: list[dict[str, Any]]) -> list[str]:
    base = names[0]
    out = []
    by_key = {r["key"]: r for r in rows}
    for other in names[1:]:
        parts = []
        for key in NARRATED:
            r = by_key.get(key)
            if r is None:
                continue
            a, b, d = r["values"][base], r["values"][other], r["diffs"][other]
            if a is None or b is None:
                continue
            rel = "" if d["rel"] is None else f" ({d['rel'] * 100:+.0f}%"
            ci = {True: ", beyond the CI", False: ", within the CI", None: ""}[d.get("exceeds_ci")]
            rel = rel + ci + ")" if rel else ""
            label = (
                r["label"] if r["label"][:3].isupper() else r["label"][0].lower() + r["label"][1:]
            )
            parts.append(f"{label} {format_value(key, a)} -> {format_value(key, b)}{rel}")
        if parts:
            out.append(f"{other} against {base}: " + "; ".join(parts) + ".")
    return out


def headline_table(
    names: Sequence[str], rows: Sequence[Mapping[str, Any]], single: Sequence[str]
) -> Table:
    """Every headline side by side with each run's difference from the baseline; the
    "exceeds CI?" column only for runs compared with an interval (not for ``single``)."""
    headers = ["metric", *names]
    for n in names[1:]:
        headers += [f"{n} - {names[0]}", "relative"] + ([] if n in single else ["exceeds CI?"])
    table_rows, classes = [], []
    for h, r in zip(HEADLINES, rows, strict=True):
        cells = [h.label]
        for n in names:
            ci = r["ci"][n]
            text = format_value(h.key, r["values"][n])
            if ci:
                text += f" [{format_value(h.key, ci[0])}, {format_value(h.key, ci[1])}]"
            cells.append(text)
        css = [""] * len(cells)
        for n in names[1:]:
            d = r["diffs"][n]
            absolute, rel = _fmt_diff(h, d)
            cells += [absolute, rel]
            css += [diff_css(h, d), diff_css(h, d)]
            if n not in single:
                cells.append(_verdict_text(d))
                css.append("")
        table_rows.append(cells)
        classes.append(css)
    return Table(headers, table_rows, classes=classes)


def run_warnings(
    names: Sequence[str], metrics: Sequence[RunMetrics], differing: Sequence[str] = ()
) -> list[tuple[str | None, ValidityWarning]]:
    """Every compared run's validity warnings, as ``(run name, warning)``, then the
    comparison's own (``(None, warning)``): the specs differ in ``retry.*`` fields
    (``differing``) but a run never exercised its retry policy."""
    out: list[tuple[str | None, ValidityWarning]] = [
        (name, w) for name, m in zip(names, metrics, strict=True) for w in validity_warnings(m)
    ]
    untested = untested_difference(names, metrics, differing)
    if untested is not None:
        out.append((None, untested))
    return out


def warning_line(name: str | None, warning: ValidityWarning) -> str:
    """``"slow: Partial report: ..."``; a comparison-wide warning without a prefix."""
    return warning.text if name is None else f"{name}: {warning.text}"


def compare(run_dirs: Sequence[Path | str], out_dir: Path | str, *, seed: int = 0,
            extra_sections: Sequence[Section] = ()) -> Path:
    """Write a comparison of ``run_dirs`` (the first is the baseline) into ``out_dir``; returns index.html.

    ``extra_sections`` go right after the headline metrics (a sweep's charts, drawn into ``out_dir``).
    """
    dirs = [Path(d) for d in run_dirs]
    if len(dirs) < 2:
        raise ValueError("a comparison needs at least two runs")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics = [read_metrics(d) for d in dirs]
    names = _names(metrics, dirs)
    rows: list[dict[str, Any]] = []
    for i, h in enumerate(HEADLINES):
        entries = [_entry(m, h.key) for m in metrics]
        rows.append(
            {
                "key": h.key,
                "label": h.label,
                "unit": h.unit,
                "better": h.better,
                "values": {n: e["value"] for n, e in zip(names, entries, strict=True)},
                "ci": {n: e["ci"] for n, e in zip(names, entries, strict=True)},
                "diffs": {
                    n: _verdict(entries[0], e, seed + i)
                    for n, e in zip(names[1:], entries[1:], strict=True)
                },
            }
        )
    diffs = spec_differences([m.spec for m in metrics])
    found = run_warnings(names, metrics, list(diffs))
    warnings = [warning_line(n, w) for n, w in found]
    audits = [read_audit(d) for d in dirs]
    data = {
        "schema_version": SCHEMA_VERSION,
        "kind": "comparison",
        "name": out.name,
        "runs": names,
        "run_dirs": [str(d) for d in dirs],
        "baseline": names[0],
        "outcomes": {
            n: m.outcome.model_dump(mode="json") for n, m in zip(names, metrics, strict=True)
        },
        "warnings": warnings,
        "validity": {
            n: [w.as_dict() for owner, w in found if owner == n] for n in names
        },
        "comparison_warnings": [w.as_dict() for owner, w in found if owner is None],
        "audits": {
            n: a.summary.verdict if a.summary is not None else None
            for n, a in zip(names, audits, strict=True)
        },
        "spec_differences": diffs,
        "metrics": rows,
    }
    (out / COMPARE_FILE).write_text(json.dumps(data, indent=1, allow_nan=False), encoding="utf-8")

    pairs = list(zip(names, metrics, strict=True))
    files = overlay_plots(pairs, out)
    plots = [Image(files[name], caption) for name, caption in OVERLAY_CAPTIONS.items()]
    diff_rows = [[k, *[json.dumps(v) for v in vals]] for k, vals in diffs.items()]
    single = _no_interval(names, rows)
    table = headline_table(names, rows, single)
    notes = [
        Paragraph(
            "Values are the mean [95% CI] over repeats where a run has repeats. Green: better, "
            "red: worse, only where the difference exceeds its uncertainty (the CI of the "
            "difference excludes 0, or a value lies outside the other run's CI); an uncoloured "
            "difference may be noise.",
            "note",
        )
    ]
    if single:
        notes.append(
            Paragraph(
                f"No confidence interval exists for {', '.join(single)} against {names[0]}: "
                "single runs (no repeats), so none of their differences is coloured and any of "
                "them may be noise. Repeat the runs (the spec's repeats) to get intervals.",
                "finding",
            )
        )
    doc = Document(
        title=f"Comparison {out.name}",
        subtitle=f"baseline {names[0]}; compared: {', '.join(names[1:])}",
        banners=warnings,
        index_href=INDEX_HREF,
        sections=[
            Section(
                "Findings",
                [Paragraph(s, "finding") for s in _sentences(names, rows)]
                or [Paragraph("No comparable figures.")],
            ),
            Section(
                "Headline metrics",
                [*notes, table],
            ),
            *extra_sections,
            Section("Overlays", list(plots)),
            Section(
                "Spec differences",
                [Table(["spec field", *names], diff_rows)]
                if diff_rows
                else [Paragraph("The specs are identical.")],
            ),
            Section(
                "Runs",
                [
                    Table(
                        ["run", "status", "audit", "report folder"],
                        [
                            [n, m.outcome.status, verdict_cell(a), str(d)]
                            for n, m, a, d in zip(names, metrics, audits, dirs, strict=True)
                        ],
                        links=[os.path.relpath(d / INDEX_FILE, out) for d in dirs],
                    )
                ],
            ),
        ],
    )
    (out / "report.md").write_text(to_markdown(doc), encoding="utf-8")
    html = out / INDEX_FILE
    html.write_text(to_html(doc), encoding="utf-8")
    log.info("comparison of %s written to %s", ", ".join(names), html)
    return html
