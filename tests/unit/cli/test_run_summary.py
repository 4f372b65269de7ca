"""The end-of-run summary: its figures from the report folder, its layout, and the exit code
(0 passed, 1 run failed or audit dirty, 2 SLO missed)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from experiments.metrics import compute
from experiments.metrics.store import write_metrics
from experiments.metrics.synthetic import SyntheticProfile, make_run
from experiments.progress import ProgressSnapshot
from experiments.run_summary import (
    EXIT_PASSED,
    EXIT_RUN_FAILED,
    EXIT_SLO_FAILED,
    RunSummary,
    SloResult,
    evaluate_slo,
    format_summary,
    summarize,
)

SNAP = ProgressSnapshot(
    label="demo-1", phase="reported", status="finished", reason=None, sent=180, accepted=170,
    low_quality=8, dead_lettered=2, in_flight=0, e2e_p50_s=0.43, e2e_p99_s=0.84,
    llm_calls=200, llm_errors=4)


@dataclass
class Verdict:
    passed: bool
    lines: list[str] = field(default_factory=list)


def _report(tmp_path: Path, slo: dict | None = None, verdict: str = "clean") -> Path:
    metrics = compute(make_run(3, profile=SyntheticProfile(duration_s=20.0, warmup_s=2.0,
                                                           rate=5.0, bursts=())))
    if slo is not None:
        metrics.spec["slo"] = slo
    folder = tmp_path / "demo-1"
    write_metrics(metrics, folder)
    (folder / "audit.json").write_text(json.dumps(
        {"verdict": verdict, "reasons": ["2 lost (sample: q1, q2)"] if verdict == "dirty" else []}))
    return folder


def test_the_summary_reads_the_report_folder(tmp_path: Path):
    folder = _report(tmp_path)
    summary = summarize("demo-1", "finished", None, folder, progress=SNAP,
                        comparison="reports/compare/demo-latest")
    assert summary.e2e_p50_s is not None and summary.e2e_p99_s >= summary.e2e_p50_s
    assert summary.goodput_qps is not None and summary.llm_calls_per_question >= 1
    assert summary.audit_verdict == "clean" and summary.slo is None
    assert summary.report == f"{folder}/index.html"
    assert summary.comparison == "reports/compare/demo-latest/index.html"
    assert summary.exit_code == EXIT_PASSED


def test_a_missing_report_leaves_the_figures_out(tmp_path: Path):
    summary = summarize("demo-1", "failed", "drain timed out", tmp_path / "nothing")
    assert summary.e2e_p50_s is None and summary.audit_verdict is None
    assert summary.exit_code == EXIT_RUN_FAILED
    assert "audit        not written" in format_summary(summary)


def test_the_slo_verdict_sets_the_exit_code(tmp_path: Path):
    folder = _report(tmp_path, slo={"e2e_p99_s_max": 0.001})
    seen = []

    def evaluate(slo, metrics):
        seen.append((slo, metrics.run.run_name))
        return Verdict(False, ["p99 1.2 s <= 0.001 s: fail"])

    summary = summarize("demo-1", "finished", None, folder, evaluate=evaluate)
    assert seen and seen[0][0] == {"e2e_p99_s_max": 0.001}
    assert summary.slo == SloResult(False, ["p99 1.2 s <= 0.001 s: fail"])
    assert summary.exit_code == EXIT_SLO_FAILED and summary.result == "SLO MISSED"
    text = format_summary(summary)
    assert "SLO          FAIL" in text and "p99 1.2 s <= 0.001 s: fail" in text


def test_without_an_slo_threshold_there_is_no_slo_verdict(tmp_path: Path):
    metrics = compute(make_run(1))
    assert evaluate_slo(metrics, evaluate=lambda *_: Verdict(False)) is None
    metrics.spec["slo"] = {"e2e_p99_s_max": None, "dlq_rate_max": None}  # the model's default
    assert evaluate_slo(metrics, evaluate=lambda *_: Verdict(False)) is None
    metrics.spec["slo"] = {"e2e_p99_s_max": 5}
    assert evaluate_slo(metrics, evaluate=lambda *_: Verdict(True, ["ok"])) == SloResult(True,
                                                                                       ["ok"])


@pytest.mark.parametrize("status, audit, slo, code", [
    ("finished", "clean", None, EXIT_PASSED),
    ("finished", "clean", SloResult(True), EXIT_PASSED),
    ("finished", None, None, EXIT_PASSED),
    ("finished", "clean", SloResult(False), EXIT_SLO_FAILED),
    ("finished", "dirty", SloResult(False), EXIT_RUN_FAILED),
    ("failed", "clean", SloResult(True), EXIT_RUN_FAILED),
    ("stopped", "clean", None, EXIT_RUN_FAILED),
])
def test_exit_codes(status, audit, slo, code):
    assert RunSummary("r", status, audit_verdict=audit, slo=slo).exit_code == code


def test_the_summary_on_one_screen():
    summary = RunSummary(
        label="demo-1", status="finished", progress=SNAP, e2e_p50_s=0.431, e2e_p99_s=0.842,
        goodput_qps=3.9, offered_qps=4.0, llm_calls_per_question=1.12, audit_verdict="clean",
        slo=SloResult(True, ["p99 0.84 s <= 5 s: pass"]), report="reports/demo-1/index.html")
    assert format_summary(summary) == "\n".join([
        "run demo-1",
        "  status       FINISHED",
        "  questions    sent 180, answered 178 (accepted 170, low quality 8), dead-lettered 2, "
        "in flight 0",
        "  e2e latency  p50 0.43 s, p99 0.84 s (steady state)",
        "  goodput      3.90 /s accepted (offered 4.00 /s)",
        "  LLM calls    1.12 per question",
        "  audit        CLEAN",
        "  SLO          PASS",
        "                 p99 0.84 s <= 5 s: pass",
        "  report       reports/demo-1/index.html",
        "  result       PASSED (exit 0)",
    ])


def test_a_failed_run_shows_its_reason_and_the_audit_findings():
    summary = RunSummary(label="demo-2", status="failed", reason="drain timed out after 600 s",
                         audit_verdict="dirty", audit_reasons=["2 lost (sample: q1, q2)"])
    text = format_summary(summary)
    assert "  reason       drain timed out after 600 s" in text
    assert "  audit        DIRTY; 2 lost (sample: q1, q2)" in text
    assert text.endswith("  result       FAILED (exit 1)")


def test_the_spec_s_slo_judged_by_experiments_slo(tmp_path: Path):
    pytest.importorskip("experiments.slo")
    folder = _report(tmp_path, slo={"e2e_p99_s_max": 1000.0, "e2e_p50_s_max": 1e-6})
    summary = summarize("demo-1", "finished", None, folder)
    assert summary.slo is not None and not summary.slo.passed
    assert [line.endswith(": fail") for line in summary.slo.lines].count(True) == 1
    assert summary.exit_code == EXIT_SLO_FAILED
