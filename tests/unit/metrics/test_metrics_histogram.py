"""The HdrHistogram wrapper against numpy, within HdrHistogram's precision."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from experiments.metrics.histogram import CDF_LEVELS, PERCENTILES, LatencyHistogram

# 3 significant digits: a bucket spans at most 1/1024 of its value (plus 1 us of resolution).
REL = 2**-10


def nearest_rank(values: np.ndarray, level: float) -> float:
    """The value of rank round-half-up(level% x n) (HdrHistogram's rank), in exact arithmetic
    (numpy's inverted_cdf computes the rank in floating point, which can be off by one)."""
    rank = max(1, math.floor(Fraction(str(level)) * len(values) / 100 + Fraction(1, 2)))
    return float(np.sort(values)[rank - 1])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_match_numpy_nearest_rank(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.lognormal(mean=0.0, sigma=1.2, size=4999)  # seconds, 0.01 s .. 100 s
    hist = LatencyHistogram.of(values.tolist())
    summary = hist.summary()
    assert summary["count"] == 4999
    for key, level in PERCENTILES:
        exact = nearest_rank(values, level)
        assert summary[key] == pytest.approx(exact, rel=REL, abs=2e-6), key
    # and the usual interpolated percentiles agree where the data are dense
    for key, level in PERCENTILES[:4]:
        assert summary[key] == pytest.approx(np.percentile(values, level), rel=0.01), key
    assert summary["max"] == pytest.approx(values.max(), abs=1e-12)  # exact, not a bucket edge
    assert summary["mean"] == pytest.approx(values.mean(), rel=1e-9)
    assert summary["min"] == pytest.approx(values.min(), rel=REL, abs=2e-6)


def test_microsecond_resolution_for_small_latencies() -> None:
    values = [0.000_120, 0.000_250, 0.000_900, 0.001_500]
    hist = LatencyHistogram.of(values)
    assert hist.percentile(50) == pytest.approx(0.000_250, abs=1e-6)
    assert hist.percentile(100) == pytest.approx(0.001_500)


def test_empty_histogram_reports_none() -> None:
    summary = LatencyHistogram.of([]).summary()
    assert summary["count"] == 0
    assert summary["p99"] is None and summary["max"] is None and summary["mean"] is None
    assert LatencyHistogram().cdf() == []


def test_negative_and_nan_values() -> None:
    hist = LatencyHistogram.of([-0.5, 1.0, float("nan"), None])
    summary = hist.summary()
    assert summary["count"] == 2  # NaN and None are skipped, the negative is clamped to 0
    assert summary["clamped_negative"] == 1
    assert summary["min"] == 0.0


def test_percentile_never_exceeds_exact_max() -> None:
    hist = LatencyHistogram.of([123.456])
    assert hist.summary()["p99_9"] == pytest.approx(123.456)


def test_cdf_is_monotonic_and_ends_at_max() -> None:
    rng = np.random.default_rng(7)
    values = rng.exponential(0.5, 2000)
    cdf = LatencyHistogram.of(values.tolist()).cdf()
    assert len(cdf) == len(CDF_LEVELS)
    xs = [x for x, _ in cdf]
    ys = [y for _, y in cdf]
    assert xs == sorted(xs) and ys == sorted(ys)
    assert cdf[-1] == [pytest.approx(values.max()), 1.0]
    median = next(x for x, y in cdf if y >= 0.5)
    assert median == pytest.approx(np.median(values), rel=0.01)


def test_fast_lookup_agrees_with_hdrh_exactly() -> None:
    rng = np.random.default_rng(11)
    hist = LatencyHistogram.of(rng.lognormal(-1.0, 1.5, 3000).tolist())
    raw = hist._h  # the wrapped hdrh histogram
    levels = [0.0, 1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 99.99]
    assert hist._raw_values_at(levels) == raw.get_percentile_to_value_dict(levels)
