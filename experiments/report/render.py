"""Build the report of one run: metrics first (JSON + CSV), then the renderer that reads only those."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.metrics.compute import compute, question_rows
from experiments.metrics.model import RunData
from experiments.metrics.repeats import aggregate_repeats
from experiments.metrics.schema import Outcome, PacingLagStats, Repeats
from experiments.metrics.store import read_metrics, read_questions, write_metrics, write_questions
from experiments.report.audit_view import read_audit
from experiments.report.content import run_document
from experiments.report.html import to_html
from experiments.report.markdown import to_markdown
from experiments.report.plots import run_plots

log = logging.getLogger(__name__)

HTML_FILE = "index.html"
MARKDOWN_FILE = "report.md"


def write_run_metrics(
    runs: RunData | Sequence[RunData], run_dir: Path | str, *, seed: int = 0, **compute_kwargs: Any
) -> Path:
    """Compute and write metrics.json + questions.csv for a run, or for repeats of one spec.

    With several runs (repeats), the first is the representative one (its plots, tables and per-question
    CSV; the report is named after ``run_dir``) and metrics.json gains a ``repeats`` block: each headline metric's mean with a bootstrap CI
    (seeded by ``seed``); its ``outcome`` combines the repeats' (:meth:`Outcome.of_repeats`), its
    ``pacing_lag`` is the worst repeat's (:meth:`PacingLagStats.of_repeats`: largest p99 and max,
    late sends summed). Each repeat's own metrics go to ``repeats/<run_name>.json``.
    """
    items = [runs] if isinstance(runs, RunData) else list(runs)
    if not items:
        raise ValueError("no run to write")
    out = Path(run_dir)
    all_metrics = [compute(r, **compute_kwargs) for r in items]
    primary = all_metrics[0]
    if len(items) > 1:
        stats = aggregate_repeats([m.headline for m in all_metrics], seed=seed)
        primary.repeats = Repeats.model_validate(
            {**stats, "runs": [r.meta.run_name for r in items]}
        )
        primary.outcome = Outcome.of_repeats(
            [(r.meta.run_name, m.outcome) for r, m in zip(items, all_metrics, strict=True)],
            own_ids={r.meta.experiment_id for r in items},
        )
        primary.pacing_lag = PacingLagStats.of_repeats([m.pacing_lag for m in all_metrics])
        primary.run.representative_run = items[0].meta.run_name
        primary.run.run_name = out.name
        for run, m in zip(items, all_metrics, strict=True):
            write_metrics(m, out / "repeats" / run.meta.run_name)
    path = write_metrics(primary, out)
    write_questions(question_rows(items[0], cooldown_s=compute_kwargs.get("cooldown_s", 0.0)), out)
    return path


def render_report(run_dir: Path | str) -> Path:
    """(Re-)render reports/<run>/ from its metrics.json and questions.csv, with the verdict of
    its audit.json when there is one (read at every render: an audit written after the report
    shows at the next); returns index.html."""
    out = Path(run_dir)
    metrics = read_metrics(out)
    rows = read_questions(out)
    plots = run_plots(metrics, rows, out)
    doc = run_document(metrics, plots, read_audit(out))
    (out / MARKDOWN_FILE).write_text(to_markdown(doc), encoding="utf-8")
    html = out / HTML_FILE
    html.write_text(to_html(doc), encoding="utf-8")
    log.info("report of %s written to %s", metrics.run.run_name, html)
    return html


def build_report(
    runs: RunData | Sequence[RunData], run_dir: Path | str, *, seed: int = 0, **compute_kwargs: Any
) -> Path:
    """compute -> metrics.json/questions.csv -> render: the whole report of a run (or of its repeats)."""
    write_run_metrics(runs, run_dir, seed=seed, **compute_kwargs)
    return render_report(run_dir)
