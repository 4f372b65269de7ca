"""The verdict rules on synthetic cell statistics (experiments.studies.verdict)."""

from __future__ import annotations

import pytest

from experiments.studies.model import CompareClaim, ThresholdClaim
from experiments.studies.verdict import MetricStat, judge, judge_comparison, judge_threshold

pytestmark = pytest.mark.unit


def stat(*values: float, low: float | None = None, high: float | None = None) -> MetricStat:
    """A metric over repeats; the interval defaults to the values' range."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return MetricStat(mean, None, None, tuple(values))
    return MetricStat(mean, min(values) if low is None else low,
                      max(values) if high is None else high, tuple(values))


def threshold(op: str = ">=", value: float = 1.0, **extra: object) -> ThresholdClaim:
    return ThresholdClaim.model_validate({"id": "t", "says": "a bound", "metric": "amplification",
                                          "cell": "a", "op": op, "value": value, **extra})


def comparison(op: str, **extra: object) -> CompareClaim:
    return CompareClaim.model_validate({"id": "c", "says": "b against a",
                                        "metric": "amplification", "cells": ["a", "b"],
                                        "op": op, **extra})


@pytest.mark.parametrize(
    ("op", "values", "outcome"),
    [
        (">=", (1.2, 1.3, 1.4), "reproduced"),
        (">=", (0.5, 0.6, 0.7), "not_reproduced"),
        (">=", (0.9, 1.0, 1.1), "not_testable"),
        ("<=", (0.5, 0.6, 0.7), "reproduced"),
        ("<=", (1.2, 1.3, 1.4), "not_reproduced"),
        ("<=", (0.95, 1.05), "not_testable"),
    ],
)
def test_a_threshold_is_judged_on_the_whole_interval(op: str, values: tuple[float, ...],
                                                     outcome: str) -> None:
    verdict = judge_threshold(threshold(op), "a", {"a": {"amplification": stat(*values)}})
    assert verdict.outcome == outcome
    assert verdict.numbers["ci"] == [min(values), max(values)]
    assert "95% CI" in verdict.reason
    if outcome == "not_testable":
        assert "straddles" in verdict.reason


def test_relative_to_divides_the_mean_and_the_interval() -> None:
    claim = ThresholdClaim.model_validate({"id": "rate", "says": "0.95 of 5/s",
                                           "metric": "throughput_qps", "cell": "paced",
                                           "op": ">=", "value": 0.95, "relative_to": 5})
    verdict = judge_threshold(claim, "paced", {"paced": {"throughput_qps": stat(4.8, 4.9, 5.0)}})
    assert verdict.outcome == "reproduced"
    assert verdict.numbers["ci"] == pytest.approx([0.96, 1.0])
    assert "throughput_qps / 5" in verdict.reason


@pytest.mark.parametrize(
    ("stats", "why"),
    [
        ({}, "cell a has no finished repeat"),
        ({"a": {}}, "amplification was not measured in cell a"),
        ({"a": {"amplification": MetricStat(None)}}, "amplification was not measured in cell a"),
        ({"a": {"amplification": stat(1.5)}}, "fewer than 2 repeats"),
    ],
)
def test_what_is_missing_makes_a_claim_not_testable_and_is_named(stats: dict, why: str) -> None:
    verdict = judge_threshold(threshold(), "a", stats)
    assert verdict.outcome == "not_testable"
    assert why in verdict.reason


A_HIGH = {"amplification": stat(4.0, 4.1, 3.9, 4.05)}
B_LOW = {"amplification": stat(1.1, 1.05, 1.12, 1.08)}
B_SAME = {"amplification": stat(3.95, 4.1, 4.0, 4.02)}


@pytest.mark.parametrize(
    ("op", "a", "b", "extra", "outcome"),
    [
        ("lower", A_HIGH, B_LOW, {}, "reproduced"),
        ("lower", B_LOW, A_HIGH, {}, "not_reproduced"),
        ("lower", A_HIGH, B_SAME, {}, "not_testable"),
        ("higher", B_LOW, A_HIGH, {}, "reproduced"),
        ("higher", A_HIGH, B_LOW, {}, "not_reproduced"),
        ("not_lower", A_HIGH, B_SAME, {"margin": 0.2}, "reproduced"),
        ("not_lower", A_HIGH, B_LOW, {"margin": 0.2}, "not_reproduced"),
        ("not_higher", A_HIGH, B_SAME, {"margin": 0.2}, "reproduced"),
        ("not_higher", B_LOW, A_HIGH, {"margin": 0.2}, "not_reproduced"),
        ("lower", A_HIGH, B_LOW, {"factor": 0.5}, "reproduced"),  # 1.1 < 0.5 * 4
        ("lower", A_HIGH, B_SAME, {"factor": 1.5}, "reproduced"),  # 4 < 1.5 * 4
    ],
)
def test_a_comparison_is_judged_on_the_interval_of_the_difference(
        op: str, a: dict, b: dict, extra: dict, outcome: str) -> None:
    verdict = judge_comparison(comparison(op, **extra), ["a", "b"], {"a": a, "b": b})
    assert verdict.outcome == outcome, verdict.reason
    low, high = verdict.numbers["diff_ci"]
    assert low <= verdict.numbers["diff"] <= high
    assert set(verdict.numbers["means"]) == {"a", "b"}


def test_a_comparison_without_one_cell_is_not_testable() -> None:
    verdict = judge(comparison("lower"), ["a", "b"], {"a": A_HIGH})
    assert verdict.outcome == "not_testable"
    assert "cell b has no finished repeat" in verdict.reason


def test_a_comparison_is_deterministic() -> None:
    stats = {"a": A_HIGH, "b": B_SAME}
    first = judge(comparison("not_lower", margin=0.1), ["a", "b"], stats, seed=3)
    assert judge(comparison("not_lower", margin=0.1), ["a", "b"], stats, seed=3) == first


def test_margin_belongs_to_the_tolerant_operators() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="margin"):
        comparison("lower", margin=0.1)
