"""Retry metrics: amplification, recovery, attempts by error class, retry tiers, dead letters,
and the simulator's ground truth beside the client's view."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from experiments.metrics.derive import QuestionTimes
from experiments.metrics.histogram import LatencyHistogram
from experiments.metrics.model import LlmAttempt


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def attempt_class(a: LlmAttempt) -> str:
    return "ok" if a.status == "ok" else (a.error_class or "unknown")


def _recovery(llm_questions: Sequence[QuestionTimes]) -> dict[str, Any]:
    """Questions that failed at least once and reached a terminal state: how many still got an answer."""
    failed = [q for q in llm_questions if q.failed_attempts > 0 and q.state != "in_flight"]
    recovered = [q for q in failed if q.answered]
    by_class: dict[str, dict[str, Any]] = {}
    for cls in sorted({c for q in failed for c in q.error_classes}):
        hit = [q for q in failed if cls in q.error_classes]
        ok = sum(q.answered for q in hit)
        by_class[cls] = {"failed": len(hit), "recovered": ok, "rate": _ratio(ok, len(hit))}
    via_tier = [q for q in recovered if q.tier_waits]
    return {
        "failed_at_least_once": len(failed),
        "recovered": len(recovered),
        "recovery_rate": _ratio(len(recovered), len(failed)),
        "recovered_in_worker": len(recovered) - len(via_tier),
        "recovered_via_retry_tier": len(via_tier),
        "by_error_class": by_class,
    }


def _tiers(
    steady_attempts: Sequence[LlmAttempt], llm_questions: Sequence[QuestionTimes]
) -> dict[str, Any]:
    waits: dict[str, list[float]] = defaultdict(list)
    for a in steady_attempts:
        if a.tier_wait_s > 0:
            waits[a.tier or "unnamed"].append(a.tier_wait_s)
    per_tier = {
        tier: {"deferrals": len(v), "mean_wait_s": sum(v) / len(v), "total_wait_s": sum(v)}
        for tier, v in sorted(waits.items())
    }
    per_question = [sum(q.tier_waits.values()) for q in llm_questions]
    deferred = [w for w in per_question if w > 0]
    backoff = [q.parts.get("backoff", 0.0) for q in llm_questions if q.parts]
    return {
        "by_tier": per_tier,
        "questions_deferred": len(deferred),
        "mean_wait_per_question_s": _ratio(sum(per_question), len(per_question)),
        "wait_of_deferred_questions": LatencyHistogram.of(deferred).summary(),
        "in_worker_backoff_per_question": LatencyHistogram.of(backoff).summary(),
    }


def _ground_truth(
    run_attempts: Sequence[LlmAttempt], sim: Mapping[str, float], llm_questions_run: int
) -> dict[str, Any]:
    """Whole-run counts (not trimmed: the simulator's counters cannot be split by question)."""
    client = Counter(attempt_class(a) for a in run_attempts)
    calls = len(run_attempts)
    client_view = {
        "requests": calls,
        "status_429": client.get("rate_limited", 0) + client.get("quota_exhausted", 0),
        "overload": client.get("overload", 0),
        "amplification": _ratio(calls, llm_questions_run),
    }
    sim_requests = sim.get("requests")
    simulator: dict[str, float | None] = dict(sim)
    simulator["amplification"] = (
        _ratio(sim_requests, llm_questions_run) if sim_requests is not None else None
    )
    diff = {k: sim[k] - (client_view[k] or 0) for k in ("requests", "status_429") if k in sim}
    return {
        "llm_questions_run": llm_questions_run,
        "client": client_view,
        "simulator": simulator if sim else None,
        "simulator_minus_client": diff or None,
        "note": "whole run, warm-up and drain included; the simulator counts requests the client "
        "may never have seen answered (timeouts), so it can exceed the client's view",
    }


def retries_section(
    steady: Sequence[QuestionTimes],
    steady_attempts: Sequence[LlmAttempt],
    run_attempts: Sequence[LlmAttempt],
    run_questions: Sequence[QuestionTimes],
    sim_counters: Mapping[str, float],
) -> dict[str, Any]:
    llm_q = [q for q in steady if not q.cache_hit]
    calls = sum(q.llm_calls for q in llm_q)
    failed = sum(q.failed_attempts for q in llm_q)
    regen_calls = sum(a.round > 0 for a in steady_attempts)
    terminal = [q for q in steady if q.state != "in_flight"]
    dlq = Counter(q.dlq_reason or "unknown" for q in terminal if q.state == "dead_lettered")
    classes = Counter(attempt_class(a) for a in steady_attempts)
    return {
        "llm_questions": len(llm_q),
        "llm_calls": calls,
        "amplification": _ratio(calls, len(llm_q)),
        "failed_attempts_per_question": _ratio(failed, len(llm_q)),
        "regeneration_calls_per_question": _ratio(regen_calls, len(llm_q)),
        "attempts_by_class": dict(sorted(classes.items())),
        "error_rate": _ratio(
            sum(v for k, v in classes.items() if k != "ok"), sum(classes.values())
        ),
        "recovery": _recovery(llm_q),
        "retry_tiers": _tiers(steady_attempts, llm_q),
        "dead_letters": {
            "count": sum(dlq.values()),
            "rate": _ratio(sum(dlq.values()), len(terminal)),
            "by_reason": dict(sorted(dlq.items())),
        },
        "ground_truth": _ground_truth(
            run_attempts, sim_counters, sum(not q.cache_hit for q in run_questions)
        ),
    }
