"""The headline metrics: one flat, named figure each, shared by reports, repeats and comparisons."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from experiments.metrics.schema import RunMetrics


#: reads one figure out of a run's metrics (attribute access: a renamed field fails loudly)
Getter = Callable[["RunMetrics"], float | int | None]


@dataclass(frozen=True)
class Headline:
    key: str
    label: str
    unit: str  # "s", "1/s", "ratio" (0-1, shown as %), "x" (multiplier), "score", "count"
    get: Getter
    better: Literal["lower", "higher"] | None


def _sim_amplification(m: RunMetrics) -> float | None:
    sim = m.retries.ground_truth.simulator
    return None if sim is None else sim.amplification


HEADLINES: tuple[Headline, ...] = (
    Headline("e2e_p50_s", "End-to-end latency p50", "s", lambda m: m.latency.e2e.p50, "lower"),
    Headline("e2e_p99_s", "End-to-end latency p99", "s", lambda m: m.latency.e2e.p99, "lower"),
    Headline("e2e_p999_s", "End-to-end latency p99.9", "s", lambda m: m.latency.e2e.p99_9, "lower"),
    Headline("e2e_max_s", "End-to-end latency max", "s", lambda m: m.latency.e2e.max, "lower"),
    Headline(
        "first_attempt_p99_s",
        "From first LLM attempt p99",
        "s",
        lambda m: m.latency.from_first_attempt.p99,
        "lower",
    ),
    Headline(
        "llm_attempt_p50_s", "LLM attempt p50", "s", lambda m: m.latency.llm_attempt.p50, "lower"
    ),
    Headline(
        "producer_send_p99_s",
        "Producer send p99",
        "s",
        lambda m: m.latency.producer_send.p99,
        "lower",
    ),
    Headline("offered_qps", "Offered load", "1/s", lambda m: m.throughput.offered_qps, None),
    Headline(
        "throughput_qps",
        "Throughput (answered)",
        "1/s",
        lambda m: m.throughput.throughput_qps,
        "higher",
    ),
    Headline(
        "goodput_qps", "Goodput (accepted)", "1/s", lambda m: m.throughput.goodput_qps, "higher"
    ),
    Headline(
        "goodput_slo_qps",
        "Goodput within SLO",
        "1/s",
        lambda m: m.throughput.goodput_slo_qps,
        "higher",
    ),
    Headline(
        "amplification", "LLM calls per question", "x", lambda m: m.retries.amplification, "lower"
    ),
    Headline(
        "amplification_sim", "Simulator requests per question", "x", _sim_amplification, "lower"
    ),
    Headline(
        "error_rate", "LLM attempt error rate", "ratio", lambda m: m.retries.error_rate, "lower"
    ),
    Headline(
        "recovery_rate",
        "Recovery rate",
        "ratio",
        lambda m: m.retries.recovery.recovery_rate,
        "higher",
    ),
    Headline(
        "retry_wait_mean_s",
        "Mean retry-tier wait per question",
        "s",
        lambda m: m.retries.retry_tiers.mean_wait_per_question_s,
        "lower",
    ),
    Headline(
        "dlq_rate", "Dead-letter rate", "ratio", lambda m: m.retries.dead_letters.rate, "lower"
    ),
    Headline("accepted_share", "Accepted", "ratio", lambda m: m.quality.accepted_share, "higher"),
    Headline(
        "low_quality_share",
        "Ended low_quality",
        "ratio",
        lambda m: m.quality.low_quality_share,
        "lower",
    ),
    Headline(
        "sent_back_share",
        "Sent back at least once",
        "ratio",
        lambda m: m.quality.sent_back_share,
        None,
    ),
    Headline(
        "score_round0_mean",
        "Mean score, round 0",
        "score",
        lambda m: m.quality.round0.mean,
        "higher",
    ),
    Headline(
        "score_final_mean", "Mean score, final", "score", lambda m: m.quality.final.mean, "higher"
    ),
    Headline(
        "score_gain_per_extra_call",
        "Score gain per extra LLM call",
        "score",
        lambda m: m.quality.gain_per_extra_call,
        "higher",
    ),
    Headline("cache_hit_rate", "Cache hit rate", "ratio", lambda m: m.cache.hit_rate, None),
    Headline(
        "in_flight",
        "Unfinished at collection",
        "count",
        lambda m: m.counts.steady_in_flight,
        "lower",
    ),
)

BY_KEY: dict[str, Headline] = {h.key: h for h in HEADLINES}

_UNIT_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "s": (0.0, None),
    "1/s": (0.0, None),
    "x": (0.0, None),
    "count": (0.0, None),
    "ratio": (0.0, 1.0),
}

#: natural range of each headline (confidence intervals are clipped to it)
BOUNDS: dict[str, tuple[float | None, float | None]] = {
    h.key: _UNIT_BOUNDS[h.unit] for h in HEADLINES if h.unit in _UNIT_BOUNDS
}


def headline(metrics: RunMetrics) -> dict[str, float | None]:
    """The flat headline figures of a run's metrics (None where not measured)."""
    out: dict[str, float | None] = {}
    for h in HEADLINES:
        value = h.get(metrics)
        out[h.key] = None if value is None else float(value)
    return out


def format_value(key: str, value: float | None) -> str:
    """Human formatting by the headline's unit (:func:`format_unit`); ``n/a`` for None."""
    if value is None:
        return "n/a"
    unit = BY_KEY[key].unit if key in BY_KEY else ""
    return format_unit(unit, value)


def format_unit(unit: str, value: float | None) -> str:
    """One figure by unit: ``1.23 s`` / ``45.6 ms``, ``12.30/s``, ``45.6%``, ``1.23x``, a count
    as an integer with thousands separators (``15,580``; a float count is rounded), anything
    else with three decimals; ``n/a`` for None. The one rule for counts: reports, comparisons
    and the index all print through it."""
    if value is None:
        return "n/a"
    if unit == "s":
        return format_seconds(value)
    if unit == "1/s":
        return f"{value:.2f}/s"
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value:.3f}"


def format_seconds(value: float) -> str:
    if abs(value) < 1.0:
        return f"{value * 1000:.1f} ms"
    if abs(value) < 120:
        return f"{value:.2f} s"
    return f"{value / 60:.1f} min"
