"""The end of a run on one screen, and its pass/fail: what `harness trigger`, `harness demo` and
`harness run` print last, and the exit code they return.

:func:`summarize` gathers the figures from what the run left behind (its report folder's
metrics.json and audit.json, and the last :class:`~experiments.progress.ProgressSnapshot`);
:func:`format_summary` lays them out. Exit codes (:attr:`RunSummary.exit_code`):

- 0: the run finished, its audit is not dirty, and its SLO (if the spec has one) passed;
- 1: the run failed or was stopped, or its audit is dirty (a question was lost or unknown);
- 2: the run finished but missed its SLO.

The SLO is the spec's ``slo`` section, judged by ``experiments.slo.evaluate(slo, metrics)``
(a verdict with ``passed`` and ``lines``) when at least one threshold is set; were that module
absent (an older tree), there would be no SLO verdict, only a warning.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiments.progress import ProgressSnapshot

if TYPE_CHECKING:
    from experiments.metrics.schema import RunMetrics

log = logging.getLogger(__name__)

EXIT_PASSED = 0
EXIT_RUN_FAILED = 1
EXIT_SLO_FAILED = 2
#: the spec or the command line is invalid and nothing ran (argparse's own code for the latter)
EXIT_INVALID = 2

#: what `--help` says about the exit codes of the commands that end with a summary
EXIT_CODES_HELP = ("exit codes: 0 the run finished and passed (audit not dirty, SLO met if the "
                   "spec has one); 1 the run failed, or its audit is dirty; 2 the run missed its "
                   "SLO, or the spec is invalid (nothing ran)")


@dataclass(frozen=True)
class SloResult:
    """The SLO verdict as the summary shows it."""

    passed: bool
    lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunSummary:
    """Everything the end-of-run screen shows (None: not known)."""

    label: str
    status: str  # finished | failed | stopped (or Airflow's state when the runs table is unread)
    reason: str | None = None
    progress: ProgressSnapshot | None = None
    e2e_p50_s: float | None = None
    e2e_p99_s: float | None = None
    goodput_qps: float | None = None
    offered_qps: float | None = None
    llm_calls_per_question: float | None = None
    audit_verdict: str | None = None
    audit_reasons: list[str] = field(default_factory=list)
    slo: SloResult | None = None
    report: str | None = None
    comparison: str | None = None

    @property
    def exit_code(self) -> int:
        if self.status != "finished" or self.audit_verdict == "dirty":
            return EXIT_RUN_FAILED
        if self.slo is not None and not self.slo.passed:
            return EXIT_SLO_FAILED
        return EXIT_PASSED

    @property
    def result(self) -> str:
        return {EXIT_PASSED: "PASSED", EXIT_RUN_FAILED: "FAILED",
                EXIT_SLO_FAILED: "SLO MISSED"}[self.exit_code]


#: ``evaluate(slo_spec, metrics)`` of experiments.slo: a verdict with ``passed`` and ``lines``
SloEvaluator = Callable[[Any, "RunMetrics"], Any]


def _slo_evaluator() -> SloEvaluator | None:
    """``experiments.slo.evaluate``, or None while the module does not exist."""
    try:
        slo = importlib.import_module("experiments.slo")
    except ImportError:
        return None
    evaluate: SloEvaluator | None = getattr(slo, "evaluate", None)
    return evaluate


def evaluate_slo(metrics: RunMetrics, evaluate: SloEvaluator | None = None) -> SloResult | None:
    """The verdict on the spec's ``slo`` section (None: no threshold set, or no evaluator).
    EVALUATE defaults to ``experiments.slo.evaluate``."""
    slo_spec = metrics.spec.get("slo")
    if not isinstance(slo_spec, Mapping) or all(v is None for v in slo_spec.values()):
        return None  # no section, or one with no threshold set (the spec model's default)
    evaluate = evaluate or _slo_evaluator()
    if evaluate is None:
        log.warning("the spec has an slo section but experiments.slo is not available: not judged")
        return None
    verdict = evaluate(slo_spec, metrics)
    return SloResult(passed=bool(verdict.passed), lines=[str(line) for line in verdict.lines])


def _read_audit(report_dir: Path) -> Mapping[str, Any] | None:
    try:
        data = json.loads((report_dir / "audit.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, Mapping) else None


def _read_metrics(report_dir: Path) -> RunMetrics | None:
    from experiments.metrics.store import MetricsSchemaError, read_metrics

    try:
        return read_metrics(report_dir)
    except MetricsSchemaError as exc:
        log.warning("no figures for the summary: %s", exc)
        return None


def summarize(label: str, status: str, reason: str | None, report_dir: str | Path | None,
              progress: ProgressSnapshot | None = None, comparison: str | None = None,
              evaluate: SloEvaluator | None = None) -> RunSummary:
    """The summary of run LABEL from its report folder (metrics.json, audit.json), the run's
    STATUS and REASON, and its last PROGRESS snapshot. A missing file leaves its figures out."""
    folder = Path(report_dir) if report_dir else None
    metrics = _read_metrics(folder) if folder else None
    audit = _read_audit(folder) if folder else None
    figures: dict[str, Any] = {}
    if metrics is not None:
        figures = {
            "e2e_p50_s": metrics.latency.e2e.p50, "e2e_p99_s": metrics.latency.e2e.p99,
            "goodput_qps": metrics.throughput.goodput_qps,
            "offered_qps": metrics.throughput.offered_qps,
            "llm_calls_per_question": metrics.retries.amplification,
            "slo": evaluate_slo(metrics, evaluate),
        }
    return RunSummary(
        label=label, status=status, reason=reason, progress=progress,
        audit_verdict=str(audit["verdict"]) if audit and audit.get("verdict") else None,
        audit_reasons=[str(r) for r in (audit or {}).get("reasons") or []],
        report=str(folder / "index.html") if folder else None,
        comparison=f"{comparison}/index.html" if comparison else None,
        **figures,
    )


def _num(value: float | None, unit: str = "", digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def format_summary(summary: RunSummary) -> str:
    """The end-of-run screen: status and reason, questions, latency, goodput, LLM calls per
    question, audit, SLO, where the report is, and the result with its exit code."""
    s = summary
    rows: list[tuple[str, str]] = [("status", s.status.upper())]
    if s.reason:
        rows.append(("reason", s.reason))
    p = s.progress
    if p is not None:
        rows.append(("questions", f"sent {p.sent}, answered {p.answered} (accepted {p.accepted}, "
                                  f"low quality {p.low_quality}), dead-lettered "
                                  f"{p.dead_lettered}, in flight {p.in_flight}"))
    rows.append(("e2e latency", f"p50 {_num(s.e2e_p50_s, ' s')}, p99 {_num(s.e2e_p99_s, ' s')} "
                                "(steady state)"))
    rows.append(("goodput", f"{_num(s.goodput_qps, ' /s')} accepted "
                            f"(offered {_num(s.offered_qps, ' /s')})"))
    rows.append(("LLM calls", f"{_num(s.llm_calls_per_question, '', 2)} per question"))
    audit = s.audit_verdict.upper() if s.audit_verdict else "not written"
    rows.append(("audit", "; ".join([audit, *s.audit_reasons[:3]])))
    if s.slo is not None:
        rows.append(("SLO", "PASS" if s.slo.passed else "FAIL"))
        rows += [("", f"  {line}") for line in s.slo.lines]
    if s.report:
        rows.append(("report", s.report))
    if s.comparison:
        rows.append(("comparison", s.comparison))
    rows.append(("result", f"{s.result} (exit {s.exit_code})"))
    width = max(len(name) for name, _ in rows) + 2
    return "\n".join([f"run {s.label}", *(f"  {name:<{width}}{text}" for name, text in rows)])
