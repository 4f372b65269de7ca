"""Validity warnings computed from a run's metrics (experiments.report.validity), in the run
report, and in a comparison of runs that differ only in a retry policy neither exercised."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest

from experiments.compare import compare
from experiments.metrics import RunMetrics
from experiments.metrics.compute import compute, question_rows
from experiments.metrics.schema import PacingLagStats
from experiments.metrics.store import write_metrics, write_questions
from experiments.metrics.synthetic import SyntheticProfile, make_run
from experiments.report import build_report
from experiments.report.index_page import WARNING_LABELS
from experiments.report.render import render_report
from experiments.report.validity import (
    WarningCode,
    few_samples,
    generator_behind,
    kafka_ack_slow,
    min_samples,
    not_exercised,
    run_warnings,
    untested_difference,
)

pytestmark = pytest.mark.unit

#: no LLM error of any kind: the retry policy has nothing to do
CALM = SyntheticProfile(
    duration_s=20.0,
    warmup_s=2.0,
    rate=3.0,
    bursts=(),
    p_overload_burst=0.0,
    p_overload=0.0,
    p_rate_limited=0.0,
    p_invalid=0.0,
    p_bad_completion=0.0,
)
BUSY = SyntheticProfile(duration_s=20.0, warmup_s=2.0, rate=3.0, bursts=((8.0, 14.0),))


@pytest.fixture(scope="module")
def calm() -> RunMetrics:
    return compute(make_run(1, profile=CALM, run_name="calm"))


@pytest.fixture(scope="module")
def busy() -> RunMetrics:
    return compute(make_run(2, profile=BUSY, run_name="busy"))


def _codes(m: RunMetrics) -> list[str]:
    return [w.code for w in run_warnings(m)]


def test_min_samples_per_percentile() -> None:
    assert [min_samples(p) for p in (90.0, 95.0, 99.0, 99.9)] == [10, 20, 100, 1000]


def test_a_retry_policy_with_no_failed_attempt_and_no_deferral_was_not_exercised(
    calm: RunMetrics,
) -> None:
    assert calm.retries.attempts_by_class.keys() == {"ok"}
    warning = not_exercised(calm)
    assert warning is not None and warning.code == "not_exercised"
    assert "exponential_full_jitter" in warning.text
    assert f"{calm.retries.llm_questions} questions" in warning.text
    assert "not_exercised" in _codes(calm)


def test_failed_attempts_or_no_policy_give_no_such_warning(
    calm: RunMetrics, busy: RunMetrics
) -> None:
    assert sum(v for k, v in busy.retries.attempts_by_class.items() if k != "ok") > 0
    assert not_exercised(busy) is None
    deferred = calm.model_copy(deep=True)
    deferred.retries.retry_tiers.questions_deferred = 1  # deferrals exercise the policy too
    assert not_exercised(deferred) is None
    none = calm.model_copy(deep=True)
    none.spec = {**none.spec, "retry": {"kind": "none"}}
    assert not_exercised(none) is None
    none.spec = {k: v for k, v in none.spec.items() if k != "retry"}
    assert not_exercised(none) is None


def test_a_p99_from_fewer_than_100_samples_is_flagged(calm: RunMetrics) -> None:
    m = calm.model_copy(deep=True)
    m.latency.e2e.count = 10
    warning = few_samples(m)
    assert warning is not None and warning.code == "few_samples"
    assert "10 steady-state samples" in warning.text
    assert "p99 needs 100" in warning.text and "p99.9 needs 1,000" in warning.text
    assert "p90" not in warning.text  # 10 samples are enough for a p90
    m.latency.e2e.count = 150
    warning = few_samples(m)
    assert warning is not None and "p99 " not in warning.text and "p99.9 needs 1,000" in warning.text
    m.latency.e2e.count = 1000
    assert few_samples(m) is None
    m.latency.e2e.count = 0  # no percentile is shown at all
    assert few_samples(m) is None


def test_a_late_generator_is_flagged(calm: RunMetrics) -> None:
    m = calm.model_copy(deep=True)
    m.throughput.offered_qps = 4.0
    m.latency.producer_send.p99 = 0.01
    assert generator_behind(m) is None
    m.latency.producer_send.p99 = 2.0  # later than the 250 ms between arrivals
    warning = generator_behind(m)
    assert warning is not None and warning.code == "generator_behind"
    assert "2.00 s" in warning.text and "250.0 ms" in warning.text
    m.throughput.offered_qps = 400.0  # 2.5 ms between arrivals: a 100 ms ack is not "behind"
    m.latency.producer_send.p99 = 0.1
    assert generator_behind(m) is None


def _paced(calm: RunMetrics, send_p99: float, pacing_p99: float | None) -> RunMetrics:
    """``calm`` at 4/s offered (250 ms between arrivals, the bound is 250 ms) with a producer-send
    p99 and the generator's pacing lag p99 (None: a metrics.json without the pacing lag)."""
    m = calm.model_copy(deep=True)
    m.throughput.offered_qps = 4.0
    m.latency.producer_send.p99 = send_p99
    m.pacing_lag = None if pacing_p99 is None else PacingLagStats(
        p50_s=0.001, p99_s=pacing_p99, max_s=max(3.0, pacing_p99), late_sends=42)
    return m


def _late_codes(m: RunMetrics) -> list[str]:
    return [c for c in _codes(m) if c in ("generator_behind", "kafka_ack_slow")]


def test_a_late_pacing_is_the_generator_falling_behind(calm: RunMetrics) -> None:
    m = _paced(calm, send_p99=2.5, pacing_p99=2.0)
    warning = generator_behind(m)
    assert warning is not None and warning.code == "generator_behind"
    assert "pacing lag p99" in warning.text and "2.00 s" in warning.text
    assert "max 3.00 s" in warning.text and "42 sends" in warning.text
    assert "250.0 ms" in warning.text
    assert kafka_ack_slow(m) is None
    assert _late_codes(m) == ["generator_behind"]


def test_slow_acks_on_schedule_are_kafka_not_the_generator(calm: RunMetrics) -> None:
    """A broker restart mid-run: the acks took seconds while the generator kept its schedule."""
    m = _paced(calm, send_p99=2.0, pacing_p99=0.004)
    assert generator_behind(m) is None
    warning = kafka_ack_slow(m)
    assert warning is not None and warning.code == "kafka_ack_slow"
    assert warning.text.startswith("Kafka acknowledged slowly:")
    assert "producer-send p99 (intended send -> Kafka ack) was 2.00 s" in warning.text
    assert "pacing lag p99 4.0 ms" in warning.text and "250.0 ms" in warning.text
    assert "includes that wait" in warning.text
    assert _late_codes(m) == ["kafka_ack_slow"]


def test_neither_late_pacing_nor_slow_acks_warn(calm: RunMetrics) -> None:
    assert _late_codes(_paced(calm, send_p99=0.2, pacing_p99=0.1)) == []
    assert _late_codes(_paced(calm, send_p99=0.25, pacing_p99=0.25)) == []  # at the bound
    # 2.5 ms between arrivals: the 250 ms floor holds, a 100 ms ack or lag is not "behind"
    fast = _paced(calm, send_p99=0.1, pacing_p99=0.1)
    fast.throughput.offered_qps = 400.0
    assert _late_codes(fast) == []
    unknown_rate = _paced(calm, send_p99=2.0, pacing_p99=2.0)
    unknown_rate.throughput.offered_qps = None
    assert _late_codes(unknown_rate) == []


def test_metrics_without_a_pacing_lag_keep_the_producer_send_rule(calm: RunMetrics) -> None:
    m = _paced(calm, send_p99=2.0, pacing_p99=None)
    warning = generator_behind(m)
    assert warning is not None and "producer-send p99 (intended send -> Kafka ack)" in warning.text
    assert kafka_ack_slow(m) is None  # without the pacing lag the two cannot be told apart
    assert _late_codes(m) == ["generator_behind"]
    assert _late_codes(_paced(calm, send_p99=0.1, pacing_p99=None)) == []


def _write(m: RunMetrics, run_dir: Path, name: str) -> Path:
    run = make_run(1, profile=CALM, run_name=name)
    m = m.model_copy(deep=True)
    m.run.run_name = name
    write_metrics(m, run_dir)
    write_questions(question_rows(run), run_dir)
    return run_dir


def test_the_report_and_a_comparison_open_with_the_late_warnings(
    calm: RunMetrics, tmp_path: Path
) -> None:
    acks = _write(_paced(calm, send_p99=2.0, pacing_p99=0.004), tmp_path / "acks", "acks")
    late = _write(_paced(calm, send_p99=2.5, pacing_p99=2.0), tmp_path / "late", "late")
    render_report(acks)
    md = (acks / "report.md").read_text()
    opening = md[: md.index("\n## ")]
    assert "> **Kafka acknowledged slowly: the producer-send p99" in opening
    assert "fell behind" not in opening
    html = compare([acks, late], tmp_path / "cmp").read_text()
    top = html[html.index("<h1>") : html.index("<nav>")]
    assert "acks: Kafka acknowledged slowly" in top
    assert "late: The load generator fell behind: its pacing lag p99" in top


def test_every_run_warning_has_a_short_label_in_the_index() -> None:
    assert set(get_args(WarningCode)) - {"untested_difference"} <= WARNING_LABELS.keys()
    assert WARNING_LABELS["kafka_ack_slow"] == "Kafka acks slow"


def test_partial_and_overlapping_runs_lead_the_warnings(calm: RunMetrics) -> None:
    m = calm.model_copy(deep=True)
    m.outcome.status = "failed"
    m.outcome.failure = "the drain timed out"
    m.outcome.overlapping_runs = ["exp-x"]
    assert _codes(m)[:2] == ["partial", "overlap"]
    assert run_warnings(m)[0].as_dict()["text"].startswith("Partial report: the run failed")


def test_untested_difference_needs_a_retry_difference_and_an_idle_run(
    calm: RunMetrics, busy: RunMetrics
) -> None:
    names, runs = ["calm", "busy"], [calm, busy]
    warning = untested_difference(names, runs, ["retry.jitter"])
    assert warning is not None and warning.code == "untested_difference"
    assert "retry.jitter" in warning.text and "calm never exercised its retry policy" in warning.text
    assert untested_difference(names, runs, ["arrival.rate"]) is None
    assert untested_difference(["busy", "busy2"], [busy, busy], ["retry.jitter"]) is None


def test_the_run_report_opens_with_its_warnings(tmp_path: Path) -> None:
    build_report(make_run(1, profile=CALM, run_name="calm"), tmp_path / "calm")
    md = (tmp_path / "calm" / "report.md").read_text().splitlines()
    assert md[0] == "# Run calm"
    assert md[2].startswith("> **Retry policy not exercised:")
    assert md[4].startswith("> **Too few samples:")


def test_a_comparison_of_two_idle_policies_says_so_at_the_top(tmp_path: Path) -> None:
    a, b = make_run(1, profile=CALM, run_name="full"), make_run(2, profile=CALM, run_name="equal")
    b.spec["retry"] = {**b.spec["retry"], "jitter": "equal"}
    build_report(a, tmp_path / "full")
    build_report(b, tmp_path / "equal")
    html = compare([tmp_path / "full", tmp_path / "equal"], tmp_path / "cmp")
    text = html.read_text()
    opening = text[text.index("<h1>") : text.index("<nav>")]
    assert "full: Retry policy not exercised" in opening
    assert "equal: Retry policy not exercised" in opening
    assert "The runs differ in retry.jitter, but full, equal never exercised" in opening
    data = json.loads((html.parent / "compare.json").read_text())
    assert "not_exercised" in [w["code"] for w in data["validity"]["full"]]
    assert [w["code"] for w in data["comparison_warnings"]] == ["untested_difference"]
    assert text.count("No confidence interval exists for equal against full") == 1
