"""compute(run) -> :class:`~experiments.metrics.schema.RunMetrics`, what metrics.json holds and every
report reads. The section builders return JSON-ready dicts; the model validates them here, so a
section whose keys drift from the model fails at compute time, not in a report."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from experiments.metrics.cache import cache_section
from experiments.metrics.derive import QuestionTimes, derive
from experiments.metrics.fault_impact import faults_section
from experiments.metrics.headline import headline
from experiments.metrics.latency import latency_section
from experiments.metrics.model import RunData
from experiments.metrics.quality import quality_section
from experiments.metrics.redact import redact
from experiments.metrics.retries import retries_section
from experiments.metrics.schema import SCHEMA_VERSION, RunMetrics
from experiments.metrics.steady import SteadyWindow, steady_window
from experiments.metrics.throughput import throughput_section
from experiments.metrics.timeseries import timeseries_section
from experiments.metrics.workers import workers_section

log = logging.getLogger(__name__)


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC).isoformat()


def _run_block(run: RunData) -> dict[str, Any]:
    m = run.meta
    return {
        "run_name": m.run_name,
        "experiment_id": m.experiment_id,
        "seed": m.seed,
        "git_revision": m.git_revision,
        "component_versions": redact(dict(m.component_versions)),
        "started_at": _iso(m.started_at),
        "ended_at": _iso(m.ended_at),
        "collected_at": _iso(m.collected_at),
        "warmup_s": m.warmup_s,
        "slo_s": m.slo_s,
        "score_threshold": m.score_threshold,
        "max_rounds": m.max_rounds,
    }


def _outcome(run: RunData) -> dict[str, Any]:
    m = run.meta
    return {
        "status": m.status,
        "failure": m.failure,
        "in_flight_at_collection": sum(q.state == "in_flight" for q in run.questions),
        "overlapping_runs": list(m.overlapping_runs),
        "stopped_early": m.stopped_early,
    }


def _counts(
    all_q: list[QuestionTimes], steady: list[QuestionTimes], window: SteadyWindow
) -> dict[str, Any]:
    return {
        "questions": len(all_q),
        "steady": len(steady),
        "trimmed_warmup": sum(q.intended_s < window.rel_start for q in all_q),
        "trimmed_drain": sum(q.intended_s > window.rel_end for q in all_q),
        "steady_by_state": dict(sorted(Counter(q.state for q in steady).items())),
        "steady_in_flight": sum(q.state == "in_flight" for q in steady),
        "duplicate_llm_question_ids": _duplicates(all_q),
    }


def _duplicates(all_q: list[QuestionTimes]) -> int:
    """LLM passes sharing a question_id: their attempts cannot be told apart (a collector bug)."""
    seen = Counter(q.question_id for q in all_q if not q.cache_hit)
    dupes = sum(n - 1 for n in seen.values() if n > 1)
    if dupes:
        log.warning("%d LLM passes reuse a question_id; their attempts are mixed up", dupes)
    return dupes


def compute(
    run: RunData,
    *,
    cooldown_s: float = 0.0,
    slo_s: float | None = None,
    bucket_s: float | None = None,
) -> RunMetrics:
    """All metrics of one run (see :mod:`experiments.metrics.steady` for the
    window; ``slo_s`` overrides ``run.meta.slo_s``; ``bucket_s`` fixes the time-series bucket)."""
    window = steady_window(run, cooldown_s)
    slo = slo_s if slo_s is not None else run.meta.slo_s
    t0 = run.meta.started_at
    all_q = derive(run, window)
    steady = [q for q in all_q if q.steady]
    steady_ids = {q.question_id for q in steady if not q.cache_hit}
    steady_attempts = [a for a in run.attempts if a.question_id in steady_ids]
    if not steady:
        log.warning("run %s has no question in its steady window", run.meta.run_name)
    sections: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": "run-metrics",
        "run": _run_block(run),
        "outcome": _outcome(run),
        "spec": redact(run.spec),
        "window": {**window.as_dict(), "cooldown_s": cooldown_s, "warmup_s": run.meta.warmup_s},
        "counts": _counts(all_q, steady, window),
        "latency": latency_section(steady, steady_attempts),
        "throughput": throughput_section(all_q, window, slo),
        "timeseries": timeseries_section(all_q, run.attempts, t0, slo, bucket_s),
        "retries": retries_section(steady, steady_attempts, run.attempts, all_q, run.sim_counters),
        "quality": quality_section(
            steady, steady_attempts, run.windows, t0, run.meta.score_threshold, run.meta.max_rounds
        ),
        "cache": cache_section(steady),
        "faults": faults_section(all_q, run.faults, t0, run.meta.ended_at - t0),
        "workers": workers_section(run.questions, run.attempts),
        "pacing_lag": None if run.meta.pacing_lag is None else run.meta.pacing_lag.model_dump(),
    }
    metrics = RunMetrics.model_validate(sections)
    metrics.headline = headline(metrics)
    return metrics


def question_rows(run: RunData, *, cooldown_s: float = 0.0) -> list[dict[str, object]]:
    """The per-question table (one flat dict per question, times relative to the start of the load)."""
    return [q.row() for q in derive(run, steady_window(run, cooldown_s))]
