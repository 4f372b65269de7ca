"""Pure fitting of a calibration: from :class:`Sample` lists to the simulator's knobs.

No I/O and no clock here, so the unit tests feed synthetic measurements and check that known
parameters come back.

- :func:`fit_latency`: the simulator's :class:`pipeline.llm.sim.profiles.Latency` model,
  ``fixed_s + lognormal(median_s, sigma) + per_token_s * completion_tokens``, from the one-at-a-time
  requests. The per-token slope is the Theil-Sen estimate (the median of pairwise slopes, robust to
  the lognormal tail) over the median latency of each completion-token count; what is left after subtracting it is a shifted lognormal, whose shift
  (``fixed_s``), median and sigma come from three of its quantiles (10%, 50%, 90%), closed form:
  ``q(p) = fixed + median * exp(sigma * z_p)``.
- :func:`fit_concurrency`: parallel slots (the best throughput, completions over each step's wall
  time, over the one-at-a-time throughput) and queueing from 1, 2, 4, 8 requests in flight.
- :func:`classify_overload`: what a burst did: queued, rejected (429, 503, other 5xx), timed out.
- :func:`check_tokens`: whether the usage fields are present and consistent.
- :func:`fit_answer_words`: the simulator's answer length (``quality.min_words/max_words``), so its
  completions have the endpoint's token counts and hence its per-token latency.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from experiments.calibrate.samples import REJECTIONS, Sample

#: the standard normal quantile of 0.9 (the spread is read from the 10%, 50%, 90% quantiles)
Z90 = 1.2815515655446004
#: a queue the simulator never fills: an endpoint that rejected nothing in its burst
UNBOUNDED_QUEUE = 100_000
#: latency growth at the highest concurrency above which requests are said to queue
QUEUEING_GROWTH = 1.5


def quantile(values: Sequence[float], p: float) -> float:
    """The ``p`` quantile, linear between order statistics (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    pos = p * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class LatencyFit:
    """The simulator's latency model (seconds) and how many requests it was fitted on."""

    fixed_s: float
    median_s: float
    sigma: float
    per_token_s: float
    samples: int

    def overrides(self) -> dict[str, float]:
        return {"fixed_s": round(self.fixed_s, 5), "median_s": round(self.median_s, 5),
                "sigma": round(self.sigma, 4), "per_token_s": round(self.per_token_s, 6)}

    def median_at(self, tokens: float) -> float:
        """The model's median latency for ``tokens`` completion tokens."""
        return self.fixed_s + self.median_s + self.per_token_s * tokens


def theil_sen_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The median of the slopes between every two points with different x (0 if none)."""
    slopes = [(ys[j] - ys[i]) / (xs[j] - xs[i])
              for i in range(len(xs)) for j in range(i + 1, len(xs)) if xs[j] != xs[i]]
    return statistics.median(slopes) if slopes else 0.0


def fit_shifted_lognormal(values: Sequence[float]) -> tuple[float, float, float]:
    """``(shift, median, sigma)`` of ``shift + lognormal(median, sigma)`` from the 10%, 50% and 90%
    quantiles. When they do not fit one (a negative shift: the lower tail is the longer one, as
    when a few requests were slowed down), no shift, the median, and the spread of the upper half,
    ``ln(q90 / q50) / z90``, which values near zero cannot blow up as the log-moments would."""
    q10, q50, q90 = (quantile(values, p) for p in (0.1, 0.5, 0.9))
    upper, lower = q90 - q50, q50 - q10
    if lower > 1e-9 and upper > lower * (1 + 1e-6):
        sigma = math.log(upper / lower) / Z90
        median = lower / (1 - math.exp(-sigma * Z90))
        shift = q50 - median
        if shift >= 0 and sigma <= 5:
            return shift, median, sigma
    if q50 <= 0:
        return 0.0, 0.0, 0.0
    return 0.0, q50, min(math.log(q90 / q50) / Z90, 5.0)


def fit_latency(samples: Sequence[Sample]) -> LatencyFit:
    """The latency model from the ``tokens`` phase's completions (one request in flight)."""
    points = [(s.completion_tokens, s.latency_s) for s in samples
              if s.ok and s.phase == "tokens" and s.completion_tokens is not None]
    if len(points) < 3:
        raise ValueError(f"too few completions to fit latency ({len(points)}; need 3)")
    xs, ys = [float(x) for x, _ in points], [y for _, y in points]
    by_tokens: dict[float, list[float]] = {}
    for x, y in zip(xs, ys, strict=True):
        by_tokens.setdefault(x, []).append(y)
    # over the median latency per token count: the noise is the same at every count, so the
    # medians lie on the model's line (and n requests cost a few counts' pairs, not n squared)
    counts = sorted(by_tokens)
    slope = max(theil_sen_slope(counts, [statistics.median(by_tokens[c]) for c in counts]), 0.0)
    residuals = [y - slope * x for x, y in zip(xs, ys, strict=True)]
    if min(residuals) < 0:  # a slope so steep that the shortest answers would need negative time
        slope = max(0.0, min(y / x for x, y in zip(xs, ys, strict=True) if x > 0))
        residuals = [y - slope * x for x, y in zip(xs, ys, strict=True)]
    shift, median, sigma = fit_shifted_lognormal(residuals)
    return LatencyFit(shift, median, sigma, slope, len(points))


@dataclass(frozen=True)
class Level:
    """One concurrency level: requests in flight, their median latency, completions per second."""

    in_flight: int
    median_s: float
    throughput: float
    completions: int


@dataclass(frozen=True)
class ConcurrencyFit:
    levels: tuple[Level, ...]
    slots: int
    """Requests the endpoint serves at once: the best throughput over the one-at-a-time one."""
    queueing: bool
    """True when the latency grows with the requests in flight (they wait for a slot)."""

    @property
    def growth(self) -> float:
        """Median latency at the highest level over the lowest."""
        if len(self.levels) < 2 or self.levels[0].median_s <= 0:
            return 1.0
        return self.levels[-1].median_s / self.levels[0].median_s


def throughput(level: Sequence[Sample], in_flight: int) -> float:
    """Completions per second of one concurrency level: over the step's wall time when the
    samples know their start, else ``k / median latency`` (a closed loop of ``k`` lanes, which
    overstates a short loop's throughput: its first requests find the slots free)."""
    if all(s.started_at > 0 for s in level):
        wall = max(s.ended_at for s in level) - min(s.started_at for s in level)
        if wall > 0:
            return len(level) / wall
    return in_flight / statistics.median(s.latency_s for s in level)


def fit_concurrency(samples: Sequence[Sample]) -> ConcurrencyFit:
    """Slots and queueing from the ``concurrency`` phase: the slots are the best throughput over
    the one-at-a-time one; the requests queue when the latency grows with the requests in flight."""
    by_level: dict[int, list[Sample]] = {}
    for s in samples:
        if s.phase == "concurrency" and s.ok:
            by_level.setdefault(s.concurrency, []).append(s)
    levels = tuple(Level(k, statistics.median(s.latency_s for s in v), throughput(v, k), len(v))
                   for k, v in sorted(by_level.items())
                   if statistics.median(s.latency_s for s in v) > 0)
    if not levels:
        return ConcurrencyFit((), 0, False)
    base = levels[0].throughput / levels[0].in_flight
    best = max(level.throughput for level in levels)
    slots = max(1, min(round(best / base), levels[-1].in_flight))
    fit = ConcurrencyFit(levels, slots, False)
    return ConcurrencyFit(levels, slots, fit.growth >= QUEUEING_GROWTH)


@dataclass(frozen=True)
class OverloadFit:
    """What a burst of requests sent at once did."""

    sent: int
    outcomes: dict[str, int]
    verdict: str
    """``queues`` (every request answered, later ones later), ``rejects_429``, ``rejects_503``,
    ``rejects_5xx``, ``times_out``, ``fails`` (some other error) or ``no_burst``."""
    accepted: int
    reject_status: int | None = None
    max_latency_s: float = 0.0
    retry_after_s: float | None = None

    def describe(self) -> str:
        counts = ", ".join(f"{n} {k}" for k, n in sorted(self.outcomes.items()))
        return f"{self.verdict} ({self.sent} at once: {counts})"


def classify_overload(samples: Sequence[Sample]) -> OverloadFit:
    burst = [s for s in samples if s.phase == "burst"]
    if not burst:
        return OverloadFit(0, {}, "no_burst", 0)
    counts = Counter(s.outcome for s in burst)
    accepted = counts.get("ok", 0)
    rejected = {k: counts[k] for k in REJECTIONS if counts.get(k)}
    hints = [s.retry_after_s for s in burst if s.retry_after_s is not None]
    max_latency = max(s.latency_s for s in burst)
    retry_after = statistics.median(hints) if hints else None
    if rejected:
        kind = max(rejected, key=lambda k: rejected[k])
        statuses = Counter(s.status for s in burst if s.outcome == kind and s.status is not None)
        status = statuses.most_common(1)[0][0] if statuses else None
        return OverloadFit(len(burst), dict(counts), f"rejects_{kind}", accepted, status,
                           max_latency, retry_after)
    if counts.get("timeout"):
        return OverloadFit(len(burst), dict(counts), "times_out", accepted, None, max_latency)
    if accepted < len(burst):
        return OverloadFit(len(burst), dict(counts), "fails", accepted, None, max_latency)
    return OverloadFit(len(burst), dict(counts), "queues", accepted, None, max_latency)


@dataclass(frozen=True)
class TokenAccounting:
    completions: int
    with_usage: int
    problems: tuple[str, ...] = field(default=())

    @property
    def consistent(self) -> bool:
        return self.completions > 0 and self.with_usage == self.completions and not self.problems


def check_tokens(samples: Sequence[Sample]) -> TokenAccounting:
    """Usage present on every completion, ``completion_tokens`` within ``max_tokens``, a
    ``length`` finish exactly at ``max_tokens``, a positive ``prompt_tokens``."""
    ok = [s for s in samples if s.ok]
    usage = [s for s in ok if s.prompt_tokens is not None and s.completion_tokens is not None]
    problems: list[str] = []
    if len(usage) < len(ok):
        problems.append(f"{len(ok) - len(usage)} of {len(ok)} completions without usage")
    over = [s for s in usage if (s.completion_tokens or 0) > s.max_tokens]
    if over:
        problems.append(f"{len(over)} completions longer than their max_tokens")
    cut = [s for s in usage if s.finish_reason == "length" and s.completion_tokens != s.max_tokens]
    if cut:
        problems.append(f"{len(cut)} 'length' finishes short of max_tokens")
    if any((s.prompt_tokens or 0) <= 0 for s in usage):
        problems.append("prompt_tokens missing or zero")
    return TokenAccounting(len(ok), len(usage), tuple(problems))


def fit_answer_words(samples: Sequence[Sample]) -> tuple[int, int]:
    """``(min_words, max_words)`` of the simulator's answers (it counts 4 tokens per 3 words, and
    cuts an answer at ``max_tokens``): the range of the answers that ended on their own; an
    endpoint whose answers always ran to ``max_tokens`` gets answers longer than any limit asked."""
    ok = [s for s in samples if s.ok and s.completion_tokens is not None]
    natural = [s.completion_tokens for s in ok if s.finish_reason != "length" and s.completion_tokens]
    longest_cap = max((s.max_tokens for s in ok), default=64)
    ran_to_cap = any(s.finish_reason == "length" and s.max_tokens == longest_cap for s in ok)
    if not natural:
        words = math.ceil(longest_cap * 3 / 4) + 1
        return words, words
    lo = max(1, math.floor(min(natural) * 3 / 4))
    hi = math.ceil((longest_cap if ran_to_cap else max(natural)) * 3 / 4) + (1 if ran_to_cap else 0)
    return lo, max(lo, hi)


@dataclass(frozen=True)
class CalibrationFit:
    latency: LatencyFit
    concurrency: ConcurrencyFit
    overload: OverloadFit
    tokens: TokenAccounting
    words: tuple[int, int]

    def overrides(self) -> dict[str, Any]:
        """The ``llm.profile_overrides`` object (over the ``instant`` profile: no faults)."""
        levels = self.concurrency.levels
        unlimited = not self.concurrency.queueing and (
            not levels or self.concurrency.slots >= levels[-1].in_flight)
        concurrency: dict[str, Any] = {"limit": 0 if unlimited else self.concurrency.slots,
                                       "max_queue": UNBOUNDED_QUEUE}
        overload = self.overload
        if overload.verdict in ("rejects_503", "rejects_5xx") and overload.reject_status in (500, 502, 503, 504, 529):
            concurrency["max_queue"] = max(0, overload.accepted - self.concurrency.slots)
            concurrency["reject_status"] = overload.reject_status
        out: dict[str, Any] = {
            "latency": self.latency.overrides(),
            "concurrency": concurrency,
            "quality": {"min_words": self.words[0], "max_words": self.words[1]},
        }
        if overload.verdict == "rejects_429":
            # a token bucket lets a burst through up to its capacity, the per-minute limit
            out["rate_limits"] = {"requests_per_min": max(1, overload.accepted)}
        return out


def fit_all(samples: Sequence[Sample]) -> CalibrationFit:
    return CalibrationFit(fit_latency(samples), fit_concurrency(samples),
                          classify_overload(samples), check_tokens(samples),
                          fit_answer_words(samples))
