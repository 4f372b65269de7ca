"""A study's report folder, reports/studies/<name>/: ``study.json`` (every cell's statistics and
every verdict with its numbers), ``report.md`` and ``index.html`` (the source claim, the verdicts,
a table per metric with each cell's mean and 95 % interval, the sweep charts, the runs).

A cell's statistics are the mean and expanded-bootstrap 95 % interval over its finished repeats
(:func:`experiments.metrics.repeats.aggregate_repeats`), the same figures a spec's own repeats
get in a run report."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.metrics.headline import BY_KEY, format_value
from experiments.metrics.repeats import aggregate_repeats
from experiments.metrics.schema import Repeats, RunMetrics
from experiments.report.document import Document, Image, Paragraph, Section, Table
from experiments.report.html import to_html
from experiments.report.index import INDEX_FILE
from experiments.report.markdown import to_markdown
from experiments.report.sweep_plots import SWEEP_METRICS, SweepCell, sweep_plots
from experiments.studies.cells import StudyCell, claim_cells
from experiments.studies.model import VARIANT, Study
from experiments.studies.verdict import CellStats, MetricStat, Verdict, judge

log = logging.getLogger(__name__)

STUDY_FILE = "study.json"


@dataclass
class CellResult:
    """A cell's finished repeats (their labels, report folders and metrics) and the repeats that
    did not finish (label -> why)."""

    cell: StudyCell
    labels: list[str] = field(default_factory=list)
    report_dirs: list[Path] = field(default_factory=list)
    runs: list[RunMetrics] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)

    def aggregate(self, seed: int = 0) -> dict[str, Any] | None:
        """:func:`aggregate_repeats` of the finished repeats' headlines; None without any."""
        if not self.runs:
            return None
        return aggregate_repeats([m.headline for m in self.runs], seed=seed)


def cell_stats(results: Sequence[CellResult]) -> CellStats:
    """Cell name -> metric -> statistics, for the cells with a finished repeat."""
    out: dict[str, dict[str, MetricStat]] = {}
    for result in results:
        agg = result.aggregate()
        if agg is not None:
            out[result.cell.name] = {k: MetricStat.of(v) for k, v in agg["metrics"].items()}
    return out


def verdicts(study: Study, results: Sequence[CellResult]) -> list[Verdict]:
    """Every claim of STUDY judged on the results' statistics."""
    stats = cell_stats(results)
    refs = claim_cells(study, [r.cell for r in results])
    return [judge(claim, refs[claim.id], stats, seed=i)
            for i, claim in enumerate(study.typed_claims())]


def _fields(study: Study) -> list[str]:
    return ([VARIANT] if study.variants else []) + list(study.grid)


def _chart_cells(results: Sequence[CellResult], fields: Sequence[str]) -> list[SweepCell]:
    """Each cell with finished repeats as a sweep cell: its first repeat's metrics carrying the
    repeats' statistics (the sweep charts read a cell's mean and CI from there)."""
    out = []
    for result in results:
        agg = result.aggregate()
        if agg is None:
            continue
        repeats = Repeats.model_validate({**agg, "runs": result.labels})
        merged = result.runs[0].model_copy(update={"repeats": repeats})
        out.append(SweepCell({f: result.cell.values.get(f) for f in fields}, merged))
    return out


def _value_text(key: str, stat: dict[str, Any] | None) -> tuple[str, str]:
    if stat is None or stat.get("mean") is None:
        return "n/a", "n/a"
    low, high = stat.get("ci_low"), stat.get("ci_high")
    ci = ("no interval" if low is None or high is None
          else f"[{format_value(key, low)}, {format_value(key, high)}]")
    return format_value(key, stat["mean"]), ci


def metric_table(key: str, results: Sequence[CellResult], fields: Sequence[str]) -> Table:
    """One metric: a row per cell with its values, finished repeats, mean and 95 % CI."""
    rows = []
    for result in results:
        agg = result.aggregate()
        stat = agg["metrics"].get(key) if agg is not None else None
        mean, ci = _value_text(key, stat)
        values = [str(result.cell.values.get(f, "")) for f in fields]
        rows.append([result.cell.name, *values, str(len(result.runs)), mean, ci])
    return Table(["cell", *fields, "repeats", "mean", "95% CI"], rows,
                 caption=f"{BY_KEY[key].label} ({key})")


def _verdict_section(found: Sequence[Verdict]) -> Section:
    css = {"reproduced": "better", "not_reproduced": "worse", "not_testable": ""}
    rows = [[v.claim, v.says, v.text, v.reason] for v in found]
    classes = [["", "", css[v.outcome], ""] for v in found]
    return Section("Verdicts", [
        Paragraph("A claim is reproduced when the 95% interval satisfies it, not reproduced when "
                  "the interval contradicts it, and not testable here when a cell or metric is "
                  "missing, a cell has fewer than 2 repeats, or the interval straddles the bound.",
                  "note"),
        Table(["claim", "says", "verdict", "the numbers"], rows, classes=classes,
              align_numbers=False),
    ])


def _runs_section(results: Sequence[CellResult], out: Path) -> Section:
    rows: list[list[str]] = []
    links: list[str | None] = []
    for result in results:
        for label, report in zip(result.labels, result.report_dirs, strict=True):
            rows.append([result.cell.name, label, "finished", str(report)])
            links.append(os.path.relpath(report / INDEX_FILE, out))
        for label, why in result.missing.items():
            rows.append([result.cell.name, label, "left out", why])
            links.append(None)
    return Section("Runs", [Table(["cell", "run", "status", "report or reason"], rows,
                                  links=links, align_numbers=False)])


def study_data(study: Study, results: Sequence[CellResult], found: Sequence[Verdict]
               ) -> dict[str, Any]:
    """study.json's content."""
    return {
        "kind": "study",
        "name": study.name,
        "source": study.source.model_dump(),
        "base": study.base,
        "repeats": study.repeats,
        "fields": _fields(study),
        "cells": [
            {
                "name": r.cell.name,
                "values": dict(r.cell.values),
                "runs": list(r.labels),
                "report_dirs": [str(d) for d in r.report_dirs],
                "missing": dict(r.missing),
                "metrics": (agg := r.aggregate()) and agg["metrics"],
            }
            for r in results
        ],
        "verdicts": [v.as_dict() for v in found],
    }


def write_study_report(study: Study, results: Sequence[CellResult], out_dir: Path) -> Path:
    """Write study.json, report.md, index.html (and the charts) into OUT_DIR; returns index.html."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    found = verdicts(study, results)
    data = study_data(study, results, found)
    (out / STUDY_FILE).write_text(json.dumps(data, indent=1, allow_nan=False), encoding="utf-8")
    fields = _fields(study)
    chart_cells = _chart_cells(results, fields)
    charts: list[Image | Paragraph] = []
    if chart_cells:
        files = sweep_plots(chart_cells, fields, out)
        charts = [Image(files[k], f"{BY_KEY[k].label} per cell.") for k in SWEEP_METRICS]
    else:
        charts = [Paragraph("No cell finished a repeat: nothing to chart.")]
    counts = {o: sum(v.outcome == o for v in found)
              for o in ("reproduced", "not_reproduced", "not_testable")}
    lead = [
        Paragraph(f"Source: {study.source.claim} Cited: {study.source.citation}.", "finding"),
        Paragraph(f"{counts['reproduced']} claim(s) reproduced, {counts['not_reproduced']} not "
                  f"reproduced, {counts['not_testable']} not testable here; {len(results)} "
                  f"cells x {study.repeats} repeats.", "note"),
        *[Paragraph(n, "note") for n in ([study.description] if study.description else [])
          + list(study.notes)],
    ]
    doc = Document(
        index_href="../../index.html",  # reports/studies/<name>/ -> reports/index.html
        title=f"Study {study.name}",
        subtitle=f"base spec {study.base}; cells: {', '.join(r.cell.name for r in results)}",
        lead=lead,
        sections=[
            _verdict_section(found),
            Section("Metrics per cell", [
                Paragraph("Mean over the cell's finished repeats with the 95% interval "
                          "(expanded percentile bootstrap of the mean).", "note"),
                *[metric_table(k, results, fields) for k in study.metrics],
            ]),
            Section("Charts", charts),
            _runs_section(results, out),
        ],
    )
    (out / "report.md").write_text(to_markdown(doc), encoding="utf-8")
    html = out / INDEX_FILE
    html.write_text(to_html(doc), encoding="utf-8")
    log.info("study %s: %s", study.name, html)
    return html
