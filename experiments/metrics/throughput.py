"""Throughput and goodput over the steady window, and the drain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from experiments.metrics.derive import QuestionTimes
from experiments.metrics.steady import SteadyWindow


def within_slo(q: QuestionTimes, slo_s: float | None) -> bool:
    return slo_s is not None and q.e2e_s is not None and q.e2e_s <= slo_s


def _rate(count: int, duration_s: float) -> float | None:
    return count / duration_s if duration_s > 0 else None


def throughput_section(
    all_questions: Sequence[QuestionTimes], window: SteadyWindow, slo_s: float | None
) -> dict[str, Any]:
    """Rates per second over the steady window.

    Completions are counted by their durable write falling inside the window (any intended time),
    arrivals by their intended time. Cache hits count as answered; ``llm_throughput_qps`` excludes them.
    """
    dur = window.duration_s
    done = [q for q in all_questions if window.contains_rel(q.durable_s)]
    answered = [q for q in done if q.answered]
    accepted = [q for q in answered if q.state == "accepted"]
    offered = sum(window.contains_rel(q.intended_s) for q in all_questions)
    last_durable = max(
        (q.durable_s for q in all_questions if q.durable_s is not None), default=None
    )
    load_end = window.load_end - window.load_start
    backlog = sum(
        q.intended_s <= load_end and (q.durable_s is None or q.durable_s > load_end)
        for q in all_questions
    )
    return {
        "window_s": dur,
        "offered_qps": _rate(offered, dur),
        "throughput_qps": _rate(len(answered), dur),
        "llm_throughput_qps": _rate(sum(not q.cache_hit for q in answered), dur),
        "goodput_qps": _rate(len(accepted), dur),
        "goodput_slo_qps": _rate(sum(within_slo(q, slo_s) for q in accepted), dur)
        if slo_s is not None
        else None,
        "slo_s": slo_s,
        "dead_lettered_per_s": _rate(sum(q.state == "dead_lettered" for q in done), dur),
        "backlog_at_load_end": backlog,
        "drain_s": max(0.0, last_durable - load_end) if last_durable is not None else None,
    }
