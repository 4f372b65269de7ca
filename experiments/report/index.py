"""reports/index.html: every run (finished, failed or stopped, with why) with its headline figures,
and every comparison."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from experiments.metrics.headline import format_value
from experiments.metrics.store import METRICS_FILE, MetricsSchemaError, read_metrics
from experiments.report.document import Document, Paragraph, Section, Table
from experiments.report.html import to_html
from experiments.report.outcome import status_reason

log = logging.getLogger(__name__)

COMPARE_DIR = "compare"
COMPARE_FILE = "compare.json"
INDEX_FILE = "index.html"
INDEX_COLUMNS: tuple[tuple[str, str], ...] = (
    ("e2e_p50_s", "e2e p50"),
    ("e2e_p99_s", "e2e p99"),
    ("throughput_qps", "throughput"),
    ("goodput_qps", "goodput"),
    ("amplification", "calls/question"),
    ("recovery_rate", "recovered"),
    ("dlq_rate", "dead letters"),
    ("score_final_mean", "final score"),
)


def _run_row(run_dir: Path) -> list[str]:
    """One run's cells; a run whose metrics.json cannot be read is listed as ``unreadable`` with
    the reason rather than left out."""
    try:
        m = read_metrics(run_dir)
    except MetricsSchemaError as exc:
        log.warning("%s is listed as unreadable in the index: %s", run_dir, exc)
        return [run_dir.name, "", "", "unreadable", str(exc), *["" for _ in INDEX_COLUMNS]]
    rep = m.repeats
    return [
        m.run.run_name or run_dir.name,
        m.run.started_at or "",
        str(rep.n if rep is not None else 1),
        m.outcome.status,
        status_reason(m.outcome),
        *[format_value(k, m.headline.get(k)) for k, _ in INDEX_COLUMNS],
    ]


def _runs_table(root: Path) -> Table:
    """Every run with a metrics.json, finished or not (failed and stopped runs say why)."""
    rows: list[list[str]] = []
    links: list[str | None] = []
    classes: list[list[str]] = []
    for path in sorted(root.glob(f"*/{METRICS_FILE}")):
        run_dir = path.parent
        if run_dir.name == COMPARE_DIR:
            continue
        row = _run_row(run_dir)
        rows.append(row)
        classes.append(
            ["", "", "", "" if row[3] == "finished" else "worse", "", *["" for _ in INDEX_COLUMNS]]
        )
        links.append(f"{run_dir.name}/{INDEX_FILE}" if (run_dir / INDEX_FILE).is_file() else None)
    headers = [
        "run",
        "started (UTC)",
        "repeats",
        "status",
        "reason",
        *[label for _, label in INDEX_COLUMNS],
    ]
    return Table(headers, rows, links=links, classes=classes)


def _comparisons_table(root: Path) -> Table:
    rows: list[list[str]] = []
    links: list[str | None] = []
    for path in sorted((root / COMPARE_DIR).glob(f"*/{COMPARE_FILE}")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            log.warning("skipping %s in the index: %s", path, exc)
            continue
        rows.append([path.parent.name, ", ".join(data.get("runs", []))])
        links.append(f"{COMPARE_DIR}/{path.parent.name}/{INDEX_FILE}")
    return Table(["comparison", "runs"], rows, links=links)


def build_index(reports_root: Path | str) -> Path:
    """Write ``reports_root/index.html`` listing all runs and comparisons, with links."""
    root = Path(reports_root)
    root.mkdir(parents=True, exist_ok=True)
    runs, comparisons = _runs_table(root), _comparisons_table(root)
    doc = Document(
        title="Experiment reports",
        subtitle=f"{len(runs.rows)} runs, {len(comparisons.rows)} comparisons",
        sections=[
            Section("Runs", [runs] if runs.rows else [Paragraph("No run reports yet.")]),
            Section(
                "Comparisons",
                [comparisons] if comparisons.rows else [Paragraph("No comparisons yet.")],
            ),
        ],
    )
    out = root / INDEX_FILE
    out.write_text(to_html(doc), encoding="utf-8")
    return out
