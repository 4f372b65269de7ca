"""Bootstrap confidence intervals over repeats: coverage, seeding, differences."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.metrics import aggregate_repeats, bootstrap_mean_ci, repeats_of
from experiments.metrics.repeats import bootstrap_diff_ci, t_quantile
from experiments.metrics.synthetic import SyntheticProfile, make_run


@pytest.mark.parametrize("n", [3, 8])
def test_ci_covers_the_true_mean_about_95_percent_of_the_time(n: int) -> None:
    rng = np.random.default_rng(123)
    trials, covered = 300, 0
    for i in range(trials):
        sample = rng.normal(10.0, 2.0, n)
        _, low, high = bootstrap_mean_ci(sample.tolist(), seed=i, resamples=1000)
        assert low is not None and high is not None and low <= sample.mean() <= high
        covered += low <= 10.0 <= high
    # binomial sd at 95 % over 300 trials is 1.3 %; the plain percentile bootstrap gets ~75 % at n=3
    assert 0.90 <= covered / trials <= 0.99


def test_ci_is_deterministic_for_a_seed() -> None:
    values = [1.0, 2.5, 2.0, 4.0, 3.2]
    assert bootstrap_mean_ci(values, seed=7) == bootstrap_mean_ci(values, seed=7)
    assert bootstrap_mean_ci(values, seed=7) != bootstrap_mean_ci(values, seed=8)


def test_single_value_has_no_interval() -> None:
    assert bootstrap_mean_ci([4.2]) == (4.2, None, None)
    with pytest.raises(ValueError):
        bootstrap_mean_ci([])


def test_diff_ci_separates_shifted_groups_and_not_equal_ones() -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(10, 1, 6).tolist()
    b = (np.asarray(a) + 5 + rng.normal(0, 0.1, 6)).tolist()
    diff, low, high = bootstrap_diff_ci(a, b, seed=1)  # type: ignore[misc]
    assert diff == pytest.approx(np.mean(b) - np.mean(a))
    assert low > 0
    same = rng.normal(10, 1, 6).tolist()
    _, low, high = bootstrap_diff_ci(a, same, seed=1)  # type: ignore[misc]
    assert low <= 0 <= high
    assert bootstrap_diff_ci([1.0], [2.0, 3.0]) is None


@pytest.mark.parametrize(
    ("df", "exact"), [(1, 12.706), (2, 4.303), (3, 3.182), (5, 2.571), (30, 2.042)]
)
def test_t_quantile(df: int, exact: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(exact, rel=2e-3)


def test_aggregate_repeats_skips_missing_values() -> None:
    agg = aggregate_repeats(
        [{"a": 1.0, "b": None}, {"a": 3.0, "b": None}, {"a": 2.0, "b": 5.0}], seed=3
    )
    assert agg["n"] == 3
    assert agg["metrics"]["a"]["mean"] == pytest.approx(2.0)
    assert agg["metrics"]["a"]["values"] == [1.0, 3.0, 2.0]
    assert agg["metrics"]["a"]["ci_low"] < 2.0 < agg["metrics"]["a"]["ci_high"]
    assert agg["metrics"]["b"] == {
        "n": 1,
        "mean": 5.0,
        "ci_low": None,
        "ci_high": None,
        "values": [5.0],
    }
    assert aggregate_repeats([{"a": 1.0}, {"a": 3.0}], seed=3) == aggregate_repeats(
        [{"a": 1.0}, {"a": 3.0}], seed=3
    )


def test_repeats_of_runs() -> None:
    small = SyntheticProfile(duration_s=20.0, warmup_s=5.0, rate=5.0)
    agg = repeats_of([make_run(s, profile=small) for s in range(3)], seed=0)
    amp = agg["metrics"]["amplification"]
    assert amp["n"] == 3 and amp["ci_low"] <= amp["mean"] <= amp["ci_high"]


def test_intervals_are_clipped_to_the_metric_range() -> None:
    # a rate near 0 with a wide spread: the widened interval would dip below 0
    agg = aggregate_repeats([{"dlq_rate": 0.0}, {"dlq_rate": 0.02}, {"dlq_rate": 0.0}], seed=1)
    assert agg["metrics"]["dlq_rate"]["ci_low"] == 0.0
    raw = aggregate_repeats(
        [{"dlq_rate": 0.0}, {"dlq_rate": 0.02}, {"dlq_rate": 0.0}], seed=1, bounds={}
    )
    assert raw["metrics"]["dlq_rate"]["ci_low"] < 0.0
