"""A run judged against its spec's service-level objectives (the spec's ``slo`` section).

Pure: :func:`evaluate` reads the typed metrics (:class:`experiments.metrics.schema.RunMetrics`)
and returns a :class:`SloVerdict`, one line per threshold set::

    e2e p99 4.1 s <= 5 s: pass
    goodput / offered 0.88 >= 0.95: fail

A threshold whose figure was not measured (no steady-state questions, no offered load) fails:
a verdict never passes on missing data. No threshold set: passed, no lines.

| threshold | figure (metrics.json) |
|---|---|
| ``e2e_p50_s_max`` | ``latency.e2e.p50`` |
| ``e2e_p99_s_max`` | ``latency.e2e.p99`` |
| ``goodput_ratio_min`` | ``throughput.goodput_slo_qps`` (``goodput_qps`` when the spec's ``slo_s`` is 0) / ``throughput.offered_qps`` |
| ``dlq_rate_max`` | ``retries.dead_letters.rate`` |
| ``amplification_max`` | ``retries.amplification`` |
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from experiments.metrics.schema import RunMetrics

__all__ = ["THRESHOLDS", "SloVerdict", "Threshold", "evaluate"]


@dataclass(frozen=True)
class Threshold:
    """One kind of threshold: the spec key, how its figure is named and read, the comparison."""

    key: str
    label: str
    unit: str
    at_most: bool  # True: figure <= limit; False: figure >= limit
    read: Callable[[RunMetrics], float | None]


def _goodput_ratio(m: RunMetrics) -> float | None:
    t = m.throughput
    goodput = t.goodput_slo_qps if t.goodput_slo_qps is not None else t.goodput_qps
    if goodput is None or not t.offered_qps:
        return None
    return goodput / t.offered_qps


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("e2e_p50_s_max", "e2e p50", " s", True, lambda m: m.latency.e2e.p50),
    Threshold("e2e_p99_s_max", "e2e p99", " s", True, lambda m: m.latency.e2e.p99),
    Threshold("goodput_ratio_min", "goodput / offered", "", False, _goodput_ratio),
    Threshold("dlq_rate_max", "dead-letter rate", "", True,
              lambda m: m.retries.dead_letters.rate),
    Threshold("amplification_max", "retry amplification", "", True,
              lambda m: m.retries.amplification),
)


@dataclass(frozen=True)
class SloVerdict:
    """``passed``: every threshold set holds; ``lines``: one per threshold, in THRESHOLDS order."""

    passed: bool
    lines: list[str] = field(default_factory=list)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def evaluate(slo: Mapping[str, Any] | None, metrics: RunMetrics) -> SloVerdict:
    """Judge METRICS against SLO (the spec's ``slo`` section: key -> limit, None = not set)."""
    slo = slo or {}
    passed, lines = True, []
    for threshold in THRESHOLDS:
        limit = slo.get(threshold.key)
        if limit is None:
            continue
        sign = "<=" if threshold.at_most else ">="
        bound = f"{_fmt(float(limit))}{threshold.unit}"
        value = threshold.read(metrics)
        if value is None:
            ok, shown = False, "not measured"
        else:
            compare = operator.le if threshold.at_most else operator.ge
            ok, shown = compare(value, float(limit)), f"{_fmt(value)}{threshold.unit}"
        passed = passed and ok
        lines.append(f"{threshold.label} {shown} {sign} {bound}: {'pass' if ok else 'fail'}")
    return SloVerdict(passed=passed, lines=lines)
