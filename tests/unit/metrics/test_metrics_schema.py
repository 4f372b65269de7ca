"""The typed metrics model: it matches what the sections produce, and refuses drift."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import ValidationError

from experiments.metrics import HEADLINES, RunData, RunMeta, RunMetrics, compute
from experiments.metrics.histogram import PERCENTILES, LatencyHistogram
from experiments.metrics.schema import LatencySummary, Outcome
from experiments.metrics.synthetic import SyntheticProfile, make_run

SMALL = SyntheticProfile(duration_s=20.0, warmup_s=5.0, rate=5.0)


def _empty() -> RunMetrics:
    return compute(RunData(meta=RunMeta(run_name="e", experiment_id="e", started_at=0, ended_at=5)))


def test_latency_summary_holds_every_histogram_key() -> None:
    summary = LatencyHistogram.of([0.1, 0.2, -1.0]).summary()
    model = LatencySummary.model_validate(summary)
    assert model.clamped_negative == 1
    assert [k for k, _ in model.percentiles()] == [k for k, _ in PERCENTILES]
    assert LatencySummary.model_validate(LatencyHistogram.of([]).summary()).count == 0


@pytest.mark.parametrize("make", [_empty, lambda: compute(make_run(1, profile=SMALL))])
def test_every_headline_reads_its_figure(make: Callable[[], RunMetrics]) -> None:
    m = make()
    assert list(m.headline) == [h.key for h in HEADLINES]
    for h in HEADLINES:
        value = h.get(m)
        assert m.headline[h.key] == (None if value is None else float(value))


def test_a_full_run_measures_the_headlines() -> None:
    m = compute(make_run(1, profile=SMALL))
    measured = {k for k, v in m.headline.items() if v is not None}
    assert {"e2e_p99_s", "amplification", "amplification_sim", "recovery_rate"} <= measured


def test_unknown_keys_are_refused_in_every_section() -> None:
    data = compute(make_run(1, profile=SMALL)).model_dump()
    for section in ("throughput", "counts", "outcome", "run"):
        bad = {**data, section: {**data[section], "renamed_figure": 1}}
        with pytest.raises(ValidationError, match="renamed_figure"):
            RunMetrics.model_validate(bad)
    with pytest.raises(ValidationError):
        RunMetrics.model_validate({**data, "extra_section": {}})


def test_simulator_counters_are_open_ended() -> None:
    m = compute(make_run(1, profile=SMALL))
    sim = m.retries.ground_truth.simulator
    assert sim is not None and sim.requests is not None
    assert set(sim.counters()) >= {"requests", "amplification"}


def test_outcome_of_repeats() -> None:
    finished = Outcome(in_flight_at_collection=0, overlapping_runs=["exp-x"])
    stopped = Outcome(status="stopped", failure="asked to", in_flight_at_collection=3)
    failed = Outcome(status="failed", failure="crashed", overlapping_runs=["exp-r0", "exp-x"])
    both = Outcome.of_repeats([("r0", finished), ("r1", stopped)], own_ids={"exp-r0"})
    assert (both.status, both.failure, both.in_flight_at_collection) == (
        "stopped",
        "r1: asked to",
        3,
    )
    worst = Outcome.of_repeats(
        [("r0", finished), ("r1", stopped), ("r2", failed)], own_ids={"exp-r0"}
    )
    assert worst.status == "failed" and worst.failure == "r1: asked to; r2: crashed"
    assert worst.overlapping_runs == ["exp-x"]
    unknown = Outcome.of_repeats([("r0", Outcome()), ("r1", finished)], own_ids=set())
    assert unknown.in_flight_at_collection is None and not unknown.partial
