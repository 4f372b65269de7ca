"""SLO thresholds: the spec's `slo` section judged against the typed metrics (experiments.slo)."""

from __future__ import annotations

import pytest

from experiments import slo, spec
from experiments.metrics import RunData, RunMeta, RunMetrics, compute
from experiments.metrics.synthetic import SyntheticProfile, make_run

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def measured() -> RunMetrics:
    return compute(make_run(1, profile=SyntheticProfile(duration_s=20.0, warmup_s=5.0, rate=5.0)))


def _with(m: RunMetrics, **changes: float | None) -> RunMetrics:
    """A copy of M with e2e p50/p99, goodput, offered, dlq rate or amplification replaced."""
    latency = m.latency.model_copy(update={"e2e": m.latency.e2e.model_copy(update={
        k: v for k, v in changes.items() if k in ("p50", "p99")})})
    throughput = m.throughput.model_copy(update={
        k: v for k, v in changes.items() if k in ("goodput_qps", "goodput_slo_qps", "offered_qps")})
    retries = m.retries.model_copy(update={
        "amplification": changes.get("amplification", m.retries.amplification),
        "dead_letters": m.retries.dead_letters.model_copy(
            update={"rate": changes.get("dlq_rate", m.retries.dead_letters.rate)})})
    return m.model_copy(update={"latency": latency, "throughput": throughput, "retries": retries})


def test_no_threshold_no_verdict_lines(measured: RunMetrics) -> None:
    assert slo.evaluate(None, measured) == slo.SloVerdict(passed=True, lines=[])
    assert slo.evaluate(spec.defaults()["slo"], measured).lines == []


def test_one_line_per_threshold_in_order(measured: RunMetrics) -> None:
    m = _with(measured, p50=0.8, p99=4.1, goodput_slo_qps=4.75, offered_qps=5.0, dlq_rate=0.002,
              amplification=1.2)
    verdict = slo.evaluate({"e2e_p99_s_max": 5, "e2e_p50_s_max": 1.0, "goodput_ratio_min": 0.9,
                            "dlq_rate_max": 0.01, "amplification_max": 1.5}, m)
    assert verdict.passed
    assert verdict.lines == [
        "e2e p50 0.8 s <= 1 s: pass",
        "e2e p99 4.1 s <= 5 s: pass",
        "goodput / offered 0.95 >= 0.9: pass",
        "dead-letter rate 0.002 <= 0.01: pass",
        "retry amplification 1.2 <= 1.5: pass",
    ]


def test_one_failed_threshold_fails_the_verdict(measured: RunMetrics) -> None:
    m = _with(measured, p99=6.0, amplification=1.2)
    verdict = slo.evaluate({"e2e_p99_s_max": 5, "amplification_max": 1.5}, m)
    assert not verdict.passed
    assert verdict.lines == ["e2e p99 6 s <= 5 s: fail", "retry amplification 1.2 <= 1.5: pass"]


def test_bounds_are_inclusive(measured: RunMetrics) -> None:
    m = _with(measured, p99=5.0, goodput_slo_qps=4.0, offered_qps=5.0)
    assert slo.evaluate({"e2e_p99_s_max": 5, "goodput_ratio_min": 0.8}, m).passed


def test_goodput_without_latency_slo_counts_every_accepted_answer(measured: RunMetrics) -> None:
    m = _with(measured, goodput_slo_qps=None, goodput_qps=2.0, offered_qps=4.0)
    assert slo.evaluate({"goodput_ratio_min": 0.6}, m).lines == [
        "goodput / offered 0.5 >= 0.6: fail"]


def test_a_figure_not_measured_fails() -> None:
    empty = compute(RunData(meta=RunMeta(run_name="e", experiment_id="e", started_at=0,
                                         ended_at=5)))
    verdict = slo.evaluate({"e2e_p99_s_max": 5, "goodput_ratio_min": 0.5}, empty)
    assert not verdict.passed
    assert verdict.lines == ["e2e p99 not measured <= 5 s: fail",
                             "goodput / offered not measured >= 0.5: fail"]


def test_the_spec_section_is_what_evaluate_reads(measured: RunMetrics) -> None:
    full = spec.validate({"name": "x", "slo": {"e2e_p99_s_max": 5, "dlq_rate_max": 0.01}})
    verdict = slo.evaluate(full["slo"], _with(measured, p99=1.0, dlq_rate=0.0))
    assert verdict.passed and len(verdict.lines) == 2
    assert {t.key for t in slo.THRESHOLDS} == set(spec.SloSection.model_fields)


@pytest.mark.parametrize(("patch", "field"), [
    ({"e2e_p99_s_max": 0}, "slo.e2e_p99_s_max"),
    ({"goodput_ratio_min": 1.5}, "slo.goodput_ratio_min"),
    ({"dlq_rate_max": -0.1}, "slo.dlq_rate_max"),
    ({"amplification_max": 0.5}, "slo.amplification_max"),
    ({"p99": 5}, "slo.p99"),
])
def test_invalid_thresholds_are_refused_naming_the_field(patch, field) -> None:
    with pytest.raises(spec.SpecError) as info:
        spec.validate({"name": "x", "slo": patch})
    assert info.value.field == field


def test_flat_slo_fields_do_not_clash_with_slo_s() -> None:
    flat = spec.flatten(spec.validate({"name": "x", "slo_s": 3, "slo": {"e2e_p99_s_max": 4}}))
    assert flat["slo_s"] == 3 and flat["slo_e2e_p99_s_max"] == 4
    assert spec.validate(flat)["slo_s"] == 3
    assert spec.apply_overrides(spec.defaults(), ["slo_s=2", "slo_e2e_p50_s_max=1"])["slo"][
        "e2e_p50_s_max"] == 1
