"""Validity warnings: reasons, computed from a run's metrics, not to read its figures at face
value. A run report shows them right under its title, a comparison lists every compared run's at
the top, and the index can show them beside each run. Pure functions of :class:`RunMetrics`.

Codes (definitions in docs/metrics.md#validity-warnings):

- ``partial``: the run failed or was stopped; its figures cover part of it.
- ``overlap``: other runs had questions in the pipeline during this one.
- ``not_exercised``: the run has a retry policy, but no steady-state LLM attempt failed and no
  question was deferred: its backoff, jitter and limits never acted.
- ``few_samples``: a tail percentile of the end-to-end latency rests on fewer samples than it
  needs (p99 on fewer than 100, p99.9 on fewer than 1,000, ...).
- ``generator_behind``: the load generator sent later than the arrival process meant.
- ``kafka_ack_slow``: the producer send (intended send -> Kafka ack) was slow, but the generator
  kept its schedule: Kafka acknowledged slowly (a broker restart, a loaded machine).
- ``untested_difference`` (comparisons only): the runs differ in their retry policy, but at least
  one of them never exercised it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from experiments.metrics.headline import format_seconds, format_unit
from experiments.metrics.histogram import PERCENTILES
from experiments.metrics.schema import RunMetrics
from experiments.report.fmt import count, plural
from experiments.report.outcome import overlap_banner, partial_banner

WarningCode = Literal[
    "partial",
    "overlap",
    "not_exercised",
    "few_samples",
    "generator_behind",
    "kafka_ack_slow",
    "untested_difference",
]

#: a pacing lag p99 (or, when it is unknown, a producer-send p99) above this and above the mean
#: gap between arrivals means the generator fell behind; a producer-send p99 above it while the
#: pacing lag stays below means Kafka acknowledged slowly. Below it, a loaded machine alone can
#: explain the figure.
GENERATOR_LATE_FLOOR_S = 0.25


@dataclass(frozen=True)
class ValidityWarning:
    """One reason to doubt a figure: a stable ``code`` and a sentence for the reader."""

    code: WarningCode
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text}


def min_samples(percentile: float) -> int:
    """Samples a percentile needs before it is more than the slowest sample or so: 1 / (1 - p),
    i.e. 100 for p99, 1,000 for p99.9."""
    return math.ceil(round(100.0 / (100.0 - percentile), 6))


def _label(key: str) -> str:
    return key.replace("_", ".")


def retry_policy(spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The spec's retry section when it names a policy that retries (kind other than
    ``none``), else None."""
    retry = spec.get("retry")
    if not isinstance(retry, Mapping) or not retry:
        return None
    if retry.get("kind") == "none" or retry.get("policy") == "none":
        return None
    return retry


def _failed_attempts(m: RunMetrics) -> int:
    return sum(v for k, v in m.retries.attempts_by_class.items() if k != "ok")


def _repeats_failed(m: RunMetrics) -> bool:
    """Any repeat (not only the representative one) had a failed attempt."""
    rep = m.repeat_stats()
    stat = rep.metrics.get("error_rate") if rep is not None else None
    return stat is not None and any(v > 0 for v in stat.values)


def exercised(m: RunMetrics) -> bool:
    """A steady-state LLM attempt failed or a question was deferred (in any repeat)."""
    return (
        _failed_attempts(m) > 0
        or m.retries.retry_tiers.questions_deferred > 0
        or _repeats_failed(m)
    )


def not_exercised(m: RunMetrics) -> ValidityWarning | None:
    retry = retry_policy(m.spec)
    if retry is None or exercised(m):
        return None
    name = retry.get("kind") or retry.get("policy") or "retry"
    client = m.retries.ground_truth.client
    return ValidityWarning(
        "not_exercised",
        f"Retry policy not exercised: none of the {plural(m.retries.llm_questions, 'question')} "
        f"sent to the LLM in the steady state had a failed attempt and none was deferred, so the "
        f"{name} policy's backoff, jitter and limits played no part in these figures (over the "
        f"whole run the client saw {plural(client.status_429, 'rate limit')} and "
        f"{plural(client.overload, 'overload')}).",
    )


def few_samples(m: RunMetrics) -> ValidityWarning | None:
    """The end-to-end percentiles above p50 that rest on fewer samples than they need."""
    n = m.latency.e2e.count
    if n == 0:
        return None
    short = [(k, min_samples(p)) for k, p in PERCENTILES if p > 50.0 and n < min_samples(p)]
    if not short:
        return None
    needs = ", ".join(f"{_label(k)} needs {count(need)}" for k, need in short)
    labels = [_label(k) for k, _ in short]
    named = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    return ValidityWarning(
        "few_samples",
        f"Too few samples: the end-to-end latency percentiles come from "
        f"{plural(n, 'steady-state sample')} ({needs}); {named} "
        f"{'is' if len(short) == 1 else 'are'} at or near the slowest sample, not an estimate "
        "of the tail.",
    )


def _late_bound(m: RunMetrics) -> tuple[float, float, float] | None:
    """``(bound, mean gap, offered rate)``: the bound is the larger of the mean gap between
    arrivals and :data:`GENERATOR_LATE_FLOOR_S`; None without an offered rate."""
    offered = m.throughput.offered_qps
    if not offered:
        return None
    gap = 1.0 / offered
    return max(gap, GENERATOR_LATE_FLOOR_S), gap, offered


def _gap_text(gap: float, offered: float) -> str:
    return (
        f"the mean gap between arrivals ({format_seconds(gap)} at "
        f"{format_unit('1/s', offered)} offered)"
    )


def generator_behind(m: RunMetrics) -> ValidityWarning | None:
    """The generator's pacing lag p99 (intended send -> its produce() call) above the bound of
    :func:`_late_bound`. For metrics without a pacing lag (written before it was recorded): the
    producer-send p99 (intended send -> Kafka ack, pacing lag included) above it."""
    bound = _late_bound(m)
    if bound is None:
        return None
    limit, gap, offered = bound
    pacing = m.pacing_lag
    if pacing is None:
        late = m.latency.producer_send.p99
        if late is None or late <= limit:
            return None
        return ValidityWarning(
            "generator_behind",
            f"The load generator fell behind: its producer-send p99 (intended send -> Kafka ack) "
            f"was {format_seconds(late)}, longer than {_gap_text(gap, offered)}, so questions "
            "left later than the arrival process meant and the load applied was not the load "
            "offered (end-to-end latency still counts from the intended send time).",
        )
    if pacing.p99_s <= limit:
        return None
    return ValidityWarning(
        "generator_behind",
        f"The load generator fell behind: its pacing lag p99 (intended send -> the generator "
        f"getting to the send) was {format_seconds(pacing.p99_s)} (max "
        f"{format_seconds(pacing.max_s)}, {plural(pacing.late_sends, 'send')} more than 10 ms "
        f"late), longer than {_gap_text(gap, offered)}, so questions left later than the "
        "arrival process meant and the load applied was not the load offered (end-to-end "
        "latency still counts from the intended send time).",
    )


def kafka_ack_slow(m: RunMetrics) -> ValidityWarning | None:
    """The producer-send p99 above the bound of :func:`_late_bound` while the pacing lag p99 is
    not: the generator kept its schedule and Kafka was slow to acknowledge. Needs the pacing lag
    (without it, :func:`generator_behind` reads the producer send)."""
    bound, pacing = _late_bound(m), m.pacing_lag
    send = m.latency.producer_send.p99
    if bound is None or pacing is None or send is None:
        return None
    limit, gap, offered = bound
    if send <= limit or pacing.p99_s > limit:
        return None
    return ValidityWarning(
        "kafka_ack_slow",
        f"Kafka acknowledged slowly: the producer-send p99 (intended send -> Kafka ack) was "
        f"{format_seconds(send)}, longer than {_gap_text(gap, offered)}, while the generator "
        f"kept its schedule (pacing lag p99 {format_seconds(pacing.p99_s)}), so the questions "
        "left on time and waited for Kafka; end-to-end latency counts from the intended send "
        "time and includes that wait.",
    )


def run_warnings(m: RunMetrics) -> list[ValidityWarning]:
    """Every warning of one run: partial and overlap first (the report's former banners)."""
    outcome = m.outcome
    out = [
        ValidityWarning("partial", text) if (text := partial_banner(outcome)) else None,
        ValidityWarning("overlap", text) if (text := overlap_banner(outcome)) else None,
        not_exercised(m),
        few_samples(m),
        generator_behind(m),
        kafka_ack_slow(m),
    ]
    return [w for w in out if w is not None]


def untested_difference(
    names: Sequence[str], metrics: Sequence[RunMetrics], differing: Sequence[str]
) -> ValidityWarning | None:
    """The specs differ in ``retry.*`` fields (``differing``: dotted spec paths) but some
    compared run never exercised its retry policy."""
    retry_keys = [k for k in differing if k.startswith("retry.")]
    idle = [
        n
        for n, m in zip(names, metrics, strict=True)
        if retry_policy(m.spec) is not None and not exercised(m)
    ]
    if not retry_keys or not idle:
        return None
    return ValidityWarning(
        "untested_difference",
        f"The runs differ in {', '.join(retry_keys)}, but {', '.join(idle)} never exercised "
        f"{'its' if len(idle) == 1 else 'their'} retry policy (no failed attempt, no deferral): "
        "differences between these runs do not come from the retry policy.",
    )
