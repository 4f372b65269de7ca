"""Metrics over time, in fixed buckets (1 s, or wider so that a run has at most ~300 buckets)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from experiments.metrics.derive import QuestionTimes
from experiments.metrics.histogram import LatencyHistogram
from experiments.metrics.model import LlmAttempt
from experiments.metrics.throughput import within_slo

_NICE_BUCKETS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)
MAX_BUCKETS = 300


def choose_bucket_s(span_s: float, max_buckets: int = MAX_BUCKETS) -> float:
    """The smallest "nice" bucket width giving at most ``max_buckets`` buckets over ``span_s``."""
    for width in _NICE_BUCKETS_S:
        if span_s / width <= max_buckets:
            return float(width)
    return float(math.ceil(span_s / max_buckets))


def _index(t: float, bucket_s: float) -> int:
    return max(0, int(t // bucket_s))


def timeseries_section(
    questions: Sequence[QuestionTimes],
    attempts: Sequence[LlmAttempt],
    t0: float,
    slo_s: float | None,
    bucket_s: float | None = None,
) -> dict[str, Any]:
    """Per-bucket rates (per second) and latency percentiles over the whole run (not trimmed).

    ``t`` is each bucket's start relative to the start of the load. Latency percentiles are by the
    bucket of the *intended* send time; rates by the bucket of the event (durable write, attempt start).
    """
    times = [q.intended_s for q in questions]
    times += [q.durable_s for q in questions if q.durable_s is not None]
    times += [a.ended_at - t0 for a in attempts]
    span = max(times, default=0.0)
    width = bucket_s or choose_bucket_s(max(span, 1.0))
    n = _index(span, width) + 1
    series: dict[str, list[float]] = {
        k: [0.0] * n for k in ("offered", "completed", "accepted", "accepted_slo", "dead_lettered")
    }
    e2e_by_bucket: dict[int, list[float]] = defaultdict(list)
    for q in questions:
        series["offered"][_index(q.intended_s, width)] += 1
        if q.on_llm_path and q.e2e_s is not None:
            e2e_by_bucket[_index(q.intended_s, width)].append(q.e2e_s)
        if q.durable_s is None:
            continue
        i = _index(q.durable_s, width)
        if q.answered:
            series["completed"][i] += 1
        if q.state == "accepted":
            series["accepted"][i] += 1
            if within_slo(q, slo_s):
                series["accepted_slo"][i] += 1
        if q.state == "dead_lettered":
            series["dead_lettered"][i] += 1
    by_class: dict[str, list[float]] = {}
    for a in attempts:
        cls = "ok" if a.status == "ok" else (a.error_class or "unknown")
        by_class.setdefault(cls, [0.0] * n)[_index(a.started_at - t0, width)] += 1
    p50: list[float | None] = [None] * n
    p99: list[float | None] = [None] * n
    for i, values in e2e_by_bucket.items():
        hist = LatencyHistogram.of(values)  # one at a time: a histogram is ~230 kB
        pct = hist.percentiles([50.0, 99.0])
        p50[i], p99[i] = pct[50.0], pct[99.0]
    rates = {k: [v / width for v in vals] for k, vals in series.items()}
    if slo_s is None:
        rates.pop("accepted_slo")
    return {
        "bucket_s": width,
        "t": [i * width for i in range(n)],
        "rates_per_s": rates,
        "attempts_per_s": {k: [v / width for v in vals] for k, vals in sorted(by_class.items())},
        "e2e_p50_s": p50,
        "e2e_p99_s": p99,
    }
