"""Faults in the report: markers on every time-series plot, the Faults table, the audit line at
the top (read at every render), and the audit verdicts of a comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from experiments.compare import compare
from experiments.metrics import read_metrics, read_questions
from experiments.metrics.synthetic import SyntheticProfile, make_run
from experiments.report import build_report, render_report
from experiments.report.audit_view import AuditReading, AuditSummary, audit_line, read_audit
from experiments.report.content import fault_rows
from experiments.report.plots import FAULT_GID, OVERLAY_PLOTS, RUN_PLOTS

FAULTY = SyntheticProfile(
    duration_s=40.0,
    warmup_s=5.0,
    rate=6.0,
    bursts=(),
    faults=((12.0, "kill", "storage", 0.0), (25.0, "pause", "worker", 4.0)),
)
#: the plots with a time axis
TIME_SERIES = ("latency_over_time", "throughput", "attempts")
CLEAN = {"verdict": "clean", "exit_code": 0, "acknowledged": 1200, "lost": 0, "duplicated": 0,
         "unknown": 0, "in_flight": 0, "terminal": {"accepted": 1200}, "reasons": []}


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("faulty") / "faulty"
    build_report(make_run(4, profile=FAULTY, run_name="faulty"), out)
    return out


def _fault_artists(fig: Figure) -> list[object]:
    ax = fig.axes[0]
    return [a for a in [*ax.lines, *ax.patches, *ax.texts] if a.get_gid() == FAULT_GID]


@pytest.mark.parametrize("name", TIME_SERIES)
def test_every_time_series_plot_marks_each_fault(name: str, faulty: Path) -> None:
    m, rows = read_metrics(faulty), read_questions(faulty)
    fig = RUN_PLOTS[name][1](m, rows)
    ax = fig.axes[0]
    lines = [a for a in ax.lines if a.get_gid() == FAULT_GID]
    assert sorted(line.get_xdata()[0] for line in lines) == [12.0, 25.0]
    spans = [p for p in ax.patches if p.get_gid() == FAULT_GID]
    assert len(spans) == 1  # only the pause lasts
    labels = [t.get_text().strip() for t in ax.texts if t.get_gid() == FAULT_GID]
    assert labels == ["kill storage", "pause workers"]
    legend = ax.get_legend()
    assert legend is not None and "fault" in [t.get_text() for t in legend.get_texts()]
    assert legend.get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1  # outside the data


def test_plots_of_a_run_without_faults_have_no_markers(reports_root: Path) -> None:
    m, rows = read_metrics(reports_root / "single"), read_questions(reports_root / "single")
    for name in TIME_SERIES:
        assert _fault_artists(RUN_PLOTS[name][1](m, rows)) == []


def test_overlays_mark_each_runs_faults(faulty: Path, reports_root: Path) -> None:
    runs = [("faulty", read_metrics(faulty)), ("single", read_metrics(reports_root / "single"))]
    for name in ("throughput", "retries"):
        texts = [t.get_text() for t in _fault_artists(OVERLAY_PLOTS[name][1](runs))
                 if hasattr(t, "get_text")]
        assert texts == [" faulty: kill storage", " faulty: pause workers"]


def test_the_faults_table(faulty: Path) -> None:
    m = read_metrics(faulty)
    kill, pause = fault_rows(m)
    assert kill[:5] == ["12.0 s", "kill", "storage", "instant", "3.0 s after its start"]
    assert pause[1:4] == ["pause", "worker", "4.00 s"] and pause[4].endswith("after its end")
    assert kill[5].endswith(f"of {m.faults[0].affected}") and kill[6].startswith(("+", "-"))
    md = (faulty / "report.md").read_text()
    assert "## Faults" in md and "| 12.0 s | kill | storage |" in md
    html = (faulty / "index.html").read_text()
    assert "Injected faults" in html and "recovery time" in html


def test_a_failed_injection_and_a_run_whose_faults_were_not_recorded(tmp_path: Path) -> None:
    run = make_run(5, profile=FAULTY, run_name="broken")
    run.faults[0].error = "ConnectionRefusedError: supervisor"
    build_report(run, tmp_path / "broken")
    assert fault_rows(read_metrics(tmp_path / "broken"))[0][-1] == (
        "ConnectionRefusedError: supervisor")
    run.faults = []
    build_report(run, tmp_path / "unrecorded")
    md = (tmp_path / "unrecorded" / "report.md").read_text()
    assert "scheduled 2 faults, but no fault event was recorded" in md


def test_audit_lines() -> None:
    clean = AuditReading(AuditSummary.model_validate(CLEAN))
    assert audit_line(clean) == "Audit: clean - 1,200 sent, 0 lost, 0 duplicated."
    dirty = AuditSummary.model_validate(
        {**CLEAN, "verdict": "dirty", "lost": 3, "reasons": ["3 acknowledged question(s) lost"]})
    assert audit_line(AuditReading(dirty)).startswith("Audit: DIRTY - 3 lost, 0 duplicated")
    assert "3 acknowledged question(s) lost" in audit_line(AuditReading(dirty))
    flight = AuditSummary.model_validate({**CLEAN, "verdict": "in flight", "in_flight": 7})
    assert "7 still in flight" in audit_line(AuditReading(flight))
    assert "not run" in audit_line(AuditReading(None, "missing"))


def test_audit_file_shapes(tmp_path: Path) -> None:
    assert read_audit(tmp_path).problem == "missing"
    # the audit command's own layout: counts under totals, terminal_<state> keys
    (tmp_path / "audit.json").write_text(json.dumps({
        "verdict": "dirty", "exit_code": 1, "reasons": ["r"], "target": "x", "experiments": [],
        "totals": {"acknowledged": 10, "lost": 1, "duplicated": 2, "unknown": 0, "in_flight": 0,
                   "extra_llm_calls": 2, "terminal_accepted": 9}}))
    summary = read_audit(tmp_path).summary
    assert summary is not None and (summary.lost, summary.duplicated) == (1, 2)
    assert summary.terminal == {"accepted": 9}
    (tmp_path / "audit.json").write_text("{not json")
    bad = read_audit(tmp_path)
    assert bad.summary is None and "unreadable" in audit_line(bad)


def test_the_audit_verdict_opens_the_report_and_a_later_audit_shows_at_rerender(
    faulty: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    build_report(make_run(6, profile=FAULTY, run_name="late"), run_dir)
    assert "Audit: not run" in (run_dir / "report.md").read_text()
    (run_dir / "audit.json").write_text(json.dumps({**CLEAN, "verdict": "dirty", "lost": 3,
                                                    "reasons": ["3 lost"]}))
    render_report(run_dir)
    md = (run_dir / "report.md").read_text()
    lead = next(line for line in md.splitlines() if not line.startswith(("#", ">")) and line)
    assert lead.startswith("**Audit: DIRTY - 3 lost")  # after the title and its warnings
    html = (run_dir / "index.html").read_text()
    assert html.index("Audit: DIRTY") < html.index("<nav>")
    assert 'class="audit-dirty"' in html


def test_comparison_lists_each_runs_audit_verdict(faulty: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    build_report(make_run(7, profile=FAULTY, run_name="other"), other)
    (other / "audit.json").write_text(json.dumps(CLEAN))
    html = compare([faulty, other], tmp_path / "cmp")
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert data["audits"] == {"faulty": None, "other": "clean"}
    text = html.read_text()
    assert "clean (0 lost, 0 duplicated)" in text and "not run" in text
