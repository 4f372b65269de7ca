"""The answer cache: hit rate and how often questions are asked."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from experiments.metrics.derive import QuestionTimes
from experiments.metrics.histogram import LatencyHistogram


def cache_section(steady: Sequence[QuestionTimes]) -> dict[str, Any]:
    hits = [q for q in steady if q.cache_hit]
    counts = Counter(q.access_count for q in steady)
    n = len(steady)
    return {
        "requests": n,
        "hits": len(hits),
        "hit_rate": len(hits) / n if n else None,
        "hit_latency": LatencyHistogram.of(q.e2e_s for q in hits).summary(),
        "access_count": {
            "mean": sum(q.access_count for q in steady) / n if n else None,
            "max": max((q.access_count for q in steady), default=None),
            "distribution": {str(k): v for k, v in sorted(counts.items())},
        },
    }
