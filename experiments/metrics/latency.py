"""Latency metrics over the steady state: end to end, from the first LLM attempt, per hop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from experiments.metrics.derive import WATERFALL_PARTS, QuestionTimes
from experiments.metrics.histogram import LatencyHistogram
from experiments.metrics.model import LlmAttempt


def latency_section(
    questions: Sequence[QuestionTimes], steady_attempts: Sequence[LlmAttempt]
) -> dict[str, Any]:
    """Latency summaries (seconds) for the steady questions answered through the LLM.

    ``questions`` must already be the steady ones; ``steady_attempts`` their LLM attempts.
    """
    pop = [q for q in questions if q.on_llm_path and q.e2e_s is not None]
    e2e = LatencyHistogram.of(q.e2e_s for q in pop)
    first = LatencyHistogram.of(q.from_first_attempt_s for q in pop)
    send = LatencyHistogram.of(q.producer_send_s for q in questions if not q.cache_hit)
    durations = [a.ended_at - a.started_at for a in steady_attempts]
    attempt_all = LatencyHistogram.of(durations)
    attempt_ok = LatencyHistogram.of(
        a.ended_at - a.started_at for a in steady_attempts if a.status == "ok"
    )
    to_dlq = LatencyHistogram.of(
        q.e2e_s for q in questions if q.state == "dead_lettered" and q.e2e_s is not None
    )
    waterfall: dict[str, Any] = {}
    for part in WATERFALL_PARTS:
        waterfall[part] = LatencyHistogram.of(q.parts.get(part, 0.0) for q in pop).summary()
    llm_per_question = waterfall["llm"]
    return {
        "population": {
            "answered_via_llm": len(pop),
            "note": "steady-state questions answered through the LLM (cache hits and dead letters excluded)",
        },
        "e2e": e2e.summary(),
        "e2e_cdf": e2e.cdf(),
        "from_first_attempt": first.summary(),
        "from_first_attempt_cdf": first.cdf(),
        "producer_send": send.summary(),
        "llm_attempt": attempt_all.summary(),
        "llm_attempt_ok": attempt_ok.summary(),
        "llm_attempt_cdf": attempt_all.cdf(),
        "llm_per_question": llm_per_question,
        "time_to_dead_letter": to_dlq.summary(),
        "waterfall": {"parts": list(WATERFALL_PARTS), "by_part": waterfall},
    }
