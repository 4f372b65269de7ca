"""The calibration's pure fitting on synthetic measurements: known parameters come back."""

from __future__ import annotations

import math
import random

import pytest

from experiments.calibrate.fit import (
    UNBOUNDED_QUEUE,
    check_tokens,
    classify_overload,
    fit_all,
    fit_answer_words,
    fit_concurrency,
    fit_latency,
    fit_shifted_lognormal,
    quantile,
    theil_sen_slope,
)
from experiments.calibrate.samples import Sample, outcome_of
from experiments.spec import simulator_profile


def synthetic(n: int, *, fixed: float, median: float, sigma: float, per_token: float,
              levels: tuple[int, ...] = (8, 16, 32, 64), seed: int = 1) -> list[Sample]:
    """The simulator's latency model drawn by hand: one request at a time, answers to max_tokens."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        tokens = levels[i % len(levels)]
        latency = fixed + rng.lognormvariate(math.log(median), sigma) + per_token * tokens
        out.append(Sample("tokens", 1, tokens, latency, "ok", 200, 20, tokens, "length"))
    return out


def test_quantile_interpolates_like_numpy():
    assert quantile([1, 2, 3, 4], 0.5) == 2.5
    assert quantile([5], 0.9) == 5
    assert quantile([0, 10], 0.1) == pytest.approx(1.0)


def test_theil_sen_ignores_an_outlier():
    xs = [1, 2, 3, 4, 5, 6]
    ys = [2.0, 4.0, 6.0, 80.0, 10.0, 12.0]
    assert theil_sen_slope(xs, ys) == pytest.approx(2.0)
    assert theil_sen_slope([3, 3], [1, 2]) == 0.0


@pytest.mark.parametrize(("fixed", "median", "sigma", "per_token"), [
    (0.05, 0.2, 0.5, 0.0),        # the healthy profile's shape, no per-token part
    (0.1, 0.3, 0.3, 0.015),       # a small CPU model: 15 ms per token
    (0.0, 0.5, 0.8, 0.002),       # no fixed part, a wide spread
])
def test_fit_latency_recovers_the_model(fixed, median, sigma, per_token):
    fit = fit_latency(synthetic(4000, fixed=fixed, median=median, sigma=sigma, per_token=per_token))
    assert fit.per_token_s == pytest.approx(per_token, abs=0.002)
    assert fit.sigma == pytest.approx(sigma, rel=0.15, abs=0.05)
    # fixed and median trade off a little; their sum (the median without tokens) is tight
    assert fit.fixed_s + fit.median_s == pytest.approx(fixed + median, rel=0.05)
    assert fit.fixed_s == pytest.approx(fixed, abs=0.06)
    assert fit.samples == 4000


def test_fit_latency_on_a_small_sample_gets_the_median_within_20_percent():
    samples = synthetic(24, fixed=0.1, median=0.3, sigma=0.3, per_token=0.015, seed=7)
    fit = fit_latency(samples)
    for tokens in (8, 64):
        measured = sorted(s.latency_s for s in samples if s.max_tokens == tokens)
        true = 0.1 + 0.3 + 0.015 * tokens
        assert fit.median_at(tokens) == pytest.approx(true, rel=0.2)
        assert measured  # the plan's levels are all present


def test_fit_latency_without_spread_or_slope():
    samples = [Sample("tokens", 1, 32, 0.5, "ok", 200, 10, 32, "length") for _ in range(10)]
    fit = fit_latency(samples)
    assert (fit.per_token_s, fit.sigma) == (0.0, 0.0)
    assert fit.fixed_s + fit.median_s == pytest.approx(0.5)


def test_fit_latency_needs_completions():
    failed = [Sample("tokens", 1, 8, 0.1, "503", 503) for _ in range(5)]
    with pytest.raises(ValueError, match="too few completions"):
        fit_latency(failed)


def test_shifted_lognormal_falls_back_when_the_quantiles_are_symmetric():
    shift, median, sigma = fit_shifted_lognormal([1.0, 2.0, 3.0, 4.0, 5.0])
    assert shift == 0.0 and median == pytest.approx(3.0, rel=0.1) and sigma > 0


def concurrency_samples(service_s: float, slots: int, levels=(1, 2, 4, 8)) -> list[Sample]:
    """A closed loop against ``slots`` parallel slots of ``service_s`` each, no slowdown."""
    out = []
    for k in levels:
        waves = math.ceil(k / slots)
        for _ in range(2 * k):
            out.append(Sample("concurrency", k, 32, service_s * waves, "ok", 200, 10, 32, "length"))
    return out


@pytest.mark.parametrize("slots", [1, 2, 4])
def test_fit_concurrency_finds_the_slots_and_the_queueing(slots):
    fit = fit_concurrency(concurrency_samples(0.5, slots))
    assert fit.slots == slots
    assert fit.queueing
    assert [lv.in_flight for lv in fit.levels] == [1, 2, 4, 8]
    assert fit.growth == pytest.approx(8 / slots)


def test_fit_concurrency_without_a_limit():
    fit = fit_concurrency(concurrency_samples(0.5, 64))
    assert (fit.slots, fit.queueing) == (8, False)
    samples = synthetic(40, fixed=0.05, median=0.2, sigma=0.3, per_token=0.0)
    samples += concurrency_samples(0.25, 64)
    assert fit_all(samples).overrides()["concurrency"]["limit"] == 0  # unlimited


def burst(outcomes: dict[str, int], status: dict[str, int] | None = None) -> list[Sample]:
    status = status or {"ok": 200, "429": 429, "503": 503, "5xx": 529, "timeout": None}
    out = []
    for outcome, n in outcomes.items():
        out += [Sample("burst", 32, 16, 1.0 + i, outcome, status.get(outcome),  # type: ignore[arg-type]
                       retry_after_s=2.0 if outcome == "429" else None) for i in range(n)]
    return out


@pytest.mark.parametrize(("outcomes", "verdict", "reject_status"), [
    ({"ok": 32}, "queues", None),
    ({"ok": 12, "503": 20}, "rejects_503", 503),
    ({"ok": 10, "429": 22}, "rejects_429", 429),
    ({"ok": 10, "5xx": 20, "503": 2}, "rejects_5xx", 529),
    ({"ok": 20, "timeout": 12}, "times_out", None),
    ({"ok": 30, "connection_error": 2}, "fails", None),
])
def test_classify_overload(outcomes, verdict, reject_status):
    fit = classify_overload(burst(outcomes))
    assert fit.verdict == verdict
    assert fit.reject_status == reject_status
    assert fit.accepted == outcomes["ok"]
    assert fit.sent == sum(outcomes.values())
    assert verdict in fit.describe()
    if verdict == "rejects_429":
        assert fit.retry_after_s == 2.0


def test_classify_overload_without_a_burst():
    assert classify_overload([]).verdict == "no_burst"


def test_overload_shapes_the_profile():
    base = synthetic(24, fixed=0.05, median=0.2, sigma=0.3, per_token=0.001) + concurrency_samples(0.3, 2)
    queued = fit_all(base + burst({"ok": 32})).overrides()
    assert queued["concurrency"] == {"limit": 2, "max_queue": UNBOUNDED_QUEUE}
    rejected = fit_all(base + burst({"ok": 12, "503": 20})).overrides()
    assert rejected["concurrency"] == {"limit": 2, "max_queue": 10, "reject_status": 503}
    limited = fit_all(base + burst({"ok": 10, "429": 22})).overrides()
    assert limited["rate_limits"] == {"requests_per_min": 10}
    for overrides in (queued, rejected, limited):  # the simulator's profile model accepts them
        simulator_profile("instant", overrides)


def test_token_accounting():
    good = [Sample("tokens", 1, 32, 0.5, "ok", 200, 12, 32, "length"),
            Sample("tokens", 1, 32, 0.4, "ok", 200, 12, 20, "stop")]
    assert check_tokens(good).consistent
    bad = [Sample("tokens", 1, 32, 0.5, "ok", 200, None, None, "stop"),
           Sample("tokens", 1, 16, 0.5, "ok", 200, 12, 40, "stop"),
           Sample("tokens", 1, 16, 0.5, "ok", 200, 0, 10, "length")]
    problems = check_tokens(bad).problems
    assert len(problems) == 4
    assert not check_tokens(bad).consistent
    assert not check_tokens([]).consistent


def test_answer_words_reproduce_the_token_counts():
    always_cut = [Sample("tokens", 1, t, 0.1, "ok", 200, 10, t, "length") for t in (8, 64)]
    assert fit_answer_words(always_cut) == (49, 49)  # longer than 64 tokens: every answer is cut
    natural = [Sample("tokens", 1, 64, 0.1, "ok", 200, 10, t, "stop") for t in (20, 40)]
    assert fit_answer_words(natural) == (15, 30)


def test_outcome_of():
    assert outcome_of(200, True) == "ok"
    assert outcome_of(200, False) == "bad_completion"
    assert outcome_of(429, False) == "429"
    assert outcome_of(503, False) == "503"
    assert outcome_of(529, False) == "5xx"
    assert outcome_of(400, False) == "4xx"
    assert outcome_of(None, False, "timeout: read") == "timeout"
    assert outcome_of(None, False, "connection error: refused") == "connection_error"


def serial_closed_loop(service_s: float, levels=(1, 2, 4, 8), rounds: int = 2) -> list[Sample]:
    """One slot, k lanes, 2k requests: the first wave waits 1..k services, later ones k each."""
    out, now = [], 1000.0
    for k in levels:
        lanes = [now] * k  # when each lane's next request is sent
        free = now          # when the server's one slot is free
        for i in range(rounds * k):
            lane = i % k
            start = lanes[lane]
            free = max(free, start) + service_s
            out.append(Sample("concurrency", k, 32, free - start, "ok", 200, 10, 32, "length",
                              started_at=start))
            lanes[lane] = free
        now = free + 1.0
    return out


def test_fit_concurrency_reads_a_serial_server_from_the_wall_time():
    samples = serial_closed_loop(2.0)
    fit = fit_concurrency(samples)
    assert fit.slots == 1 and fit.queueing
    assert [round(lv.throughput, 3) for lv in fit.levels] == [0.5] * 4
    # without start times: k / median latency
    unknown = [Sample(**{**s.to_dict(), "started_at": 0.0}) for s in samples]
    assert fit_concurrency(unknown).slots == 1


def test_shifted_lognormal_fallback_is_not_blown_up_by_values_near_zero():
    values = [0.001, 0.3, 0.5, 0.5, 0.52, 0.55, 0.6, 0.62, 0.7]  # a long lower tail
    shift, median, sigma = fit_shifted_lognormal(values)
    assert shift == 0.0 and median == pytest.approx(0.52)
    assert 0 < sigma < 0.3
    assert fit_shifted_lognormal([0.0, 0.0, 0.0]) == (0.0, 0.0, 0.0)
