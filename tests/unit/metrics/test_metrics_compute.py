"""compute() on hand-built runs whose answers are known."""

from __future__ import annotations

from typing import Any

import pytest

from experiments.metrics import (
    LlmAttempt,
    QuestionOutcome,
    RunData,
    RunMeta,
    compute,
    question_rows,
)
from experiments.metrics.derive import WATERFALL_PARTS
from experiments.metrics.timeseries import choose_bucket_s

T0 = 1000.0


def meta(**kw: Any) -> RunMeta:
    base: dict[str, Any] = {
        "run_name": "r",
        "experiment_id": "e",
        "started_at": T0,
        "ended_at": T0 + 100,
        "warmup_s": 10.0,
    }
    return RunMeta(**{**base, **kw})


def answered(qid: str, intended: float, latency: float, **kw: Any) -> QuestionOutcome:
    base: dict[str, Any] = {"state": "accepted", "llm_calls": 1}
    return QuestionOutcome(
        question_id=qid, intended_at=intended, durable_at=intended + latency, **{**base, **kw}
    )


def ramp_run(**meta_kw: Any) -> RunData:
    """One question per second; warm-up ones take 200 s, steady ones 1.00 s + 0.01 s per second."""
    qs = []
    for i in range(100):
        lat = 200.0 if i < 10 else 1.0 + (i - 10) / 100
        qs.append(answered(f"q{i}", T0 + i, lat))
    return RunData(meta=meta(**meta_kw), questions=qs)


# ---- trimming, latency, throughput -----------------------------------------------------------


def test_warmup_is_trimmed_and_percentiles_are_nearest_rank() -> None:
    m = compute(ramp_run())
    e2e = m.latency.e2e
    assert m.counts.trimmed_warmup == 10
    assert e2e.count == 90
    # steady latencies are 1.00 .. 1.89; HdrHistogram's rank is round(p x n):
    # p50 = 45th value, p90 = 81st, p99 = round(89.1) = 89th
    assert e2e.p50 == pytest.approx(1.44, rel=2**-10)
    assert e2e.p90 == pytest.approx(1.80, rel=2**-10)
    assert e2e.p99 == pytest.approx(1.88, rel=2**-10)
    assert e2e.max == pytest.approx(1.89)  # the 200 s warm-up questions are not in it
    assert m.headline["e2e_max_s"] == pytest.approx(1.89)


def test_drain_keeps_late_finishers_sent_in_the_window_but_not_their_rate() -> None:
    m = compute(ramp_run())
    # q99 (intended at 99 s, durable at 100.89 s) finishes in the drain: its latency counts ...
    assert m.latency.e2e.count == 90
    # ... but throughput counts only durable writes inside [10 s, 100 s]: q10..q98 = 89 of 90 s
    assert m.throughput.throughput_qps == pytest.approx(89 / 90)
    assert m.throughput.offered_qps == pytest.approx(90 / 90)
    # the last durable write is a warm-up question at 9 s + 200 s: 109 s after the load ended
    assert m.throughput.drain_s == pytest.approx(109.0)
    assert m.throughput.backlog_at_load_end == 11  # q0..q9 (200 s) and q99


def test_cooldown_trims_the_end_of_the_load() -> None:
    m = compute(ramp_run(), cooldown_s=20.0)
    assert m.window.start_s == 10.0 and m.window.end_s == 80.0
    assert m.latency.e2e.count == 71  # intended 10 s .. 80 s inclusive
    assert m.counts.trimmed_drain == 19
    assert m.latency.e2e.max == pytest.approx(1.70)


def test_goodput_within_slo() -> None:
    m = compute(ramp_run(slo_s=1.5))
    # accepted durable in the window with e2e <= 1.5 s: q10..q60 (1.00 .. 1.50 s) = 51
    assert m.throughput.goodput_slo_qps == pytest.approx(51 / 90)
    assert m.throughput.goodput_qps == pytest.approx(89 / 90)
    assert compute(ramp_run()).throughput.goodput_slo_qps is None


def test_empty_steady_window_gives_nones_not_errors() -> None:
    run = ramp_run(warmup_s=500.0)
    m = compute(run)
    assert m.counts.steady == 0
    assert m.headline["e2e_p99_s"] is None
    assert m.throughput.throughput_qps is None


# ---- retries -------------------------------------------------------------------------------


def att(
    qid: str, start: float, status: str = "ok", cls: str | None = None, **kw: Any
) -> LlmAttempt:
    return LlmAttempt(
        question_id=qid,
        started_at=start,
        ended_at=start + 0.5,
        status=status,
        error_class=cls,
        **kw,
    )


def retry_run() -> RunData:
    t = T0 + 20
    qs = [
        answered("q1", t, 2.0, llm_calls=1),
        answered("q2", t, 4.0, llm_calls=3, failed_attempts=2),
        answered("q3", t, 9.0, llm_calls=2, failed_attempts=1),
        QuestionOutcome(
            question_id="q4",
            intended_at=t,
            durable_at=t + 1,
            state="dead_lettered",
            dlq_reason="invalid_request",
            llm_calls=1,
            failed_attempts=1,
        ),
        QuestionOutcome(
            question_id="q5",
            intended_at=t,
            durable_at=t + 30,
            state="dead_lettered",
            dlq_reason="attempts_exhausted",
            llm_calls=4,
            failed_attempts=4,
        ),
        QuestionOutcome(
            question_id="q6", intended_at=t, state="in_flight", llm_calls=1, failed_attempts=1
        ),
        answered("q1", t + 5, 0.01, cache_hit=True, llm_calls=0, access_count=2),
    ]
    attempts = [
        att("q1", t + 0.1),
        att("q2", t + 0.1, "error", "overload"),
        att("q2", t + 1.0, "error", "overload", attempt=2, delay_before_s=0.4),
        att("q2", t + 2.0, attempt=3, delay_before_s=0.5),
        att("q3", t + 0.1, "error", "rate_limited"),
        att("q3", t + 5.6, attempt=2, tier_wait_s=5.0, tier="5s"),
        att("q4", t + 0.1, "error", "invalid_request"),
        *[att("q5", t + 0.1 + k, "error", "overload", attempt=k + 1) for k in range(4)],
        att("q6", t + 0.1, "error", "overload"),
    ]
    return RunData(
        meta=meta(), questions=qs, attempts=attempts, sim_counters={"requests": 15, "status_429": 1}
    )


def test_amplification_recovery_and_dead_letters() -> None:
    r = compute(retry_run()).retries
    assert r.llm_questions == 6
    assert r.amplification == pytest.approx(12 / 6)
    rec = r.recovery
    # q2..q5 failed and finished (q6 is in flight); q2 and q3 still got an answer
    assert rec.failed_at_least_once == 4
    assert rec.recovered == 2
    assert rec.recovery_rate == pytest.approx(0.5)
    assert rec.recovered_in_worker == 1 and rec.recovered_via_retry_tier == 1
    assert rec.by_error_class["overload"].model_dump() == {"failed": 2, "recovered": 1, "rate": 0.5}
    assert rec.by_error_class["rate_limited"].rate == 1.0
    assert rec.by_error_class["invalid_request"].recovered == 0
    assert r.attempts_by_class == {
        "invalid_request": 1,
        "ok": 3,
        "overload": 7,
        "rate_limited": 1,
    }
    assert r.error_rate == pytest.approx(9 / 12)
    assert r.dead_letters.by_reason == {"attempts_exhausted": 1, "invalid_request": 1}
    assert r.dead_letters.rate == pytest.approx(2 / 6)  # of the 6 terminal questions


def test_retry_tiers_and_ground_truth() -> None:
    m = compute(retry_run())
    tiers = m.retries.retry_tiers
    assert {k: v.model_dump() for k, v in tiers.by_tier.items()} == {
        "5s": {"deferrals": 1, "mean_wait_s": 5.0, "total_wait_s": 5.0}
    }
    assert tiers.mean_wait_per_question_s == pytest.approx(5.0 / 6)
    gt = m.retries.ground_truth
    assert gt.client.requests == 12
    assert gt.client.amplification == pytest.approx(2.0)
    assert gt.simulator is not None and gt.simulator.amplification == pytest.approx(2.5)
    assert gt.simulator_minus_client == {"requests": 3, "status_429": 0}
    assert m.headline["amplification_sim"] == pytest.approx(2.5)
    assert m.counts.steady_in_flight == 1


def test_cache_hits() -> None:
    m = compute(retry_run())
    assert m.cache.hit_rate == pytest.approx(1 / 7)
    assert m.cache.access_count.max == 2
    # a cache hit reusing q1's id does not pick up q1's attempts
    assert m.latency.e2e.count == 3


# ---- waterfall -----------------------------------------------------------------------------


def two_round_run() -> RunData:
    t = T0 + 10
    q = QuestionOutcome(
        question_id="w",
        intended_at=t,
        sent_at=t + 0.01,
        first_attempt_at=t + 0.11,
        durable_at=t + 2.20,
        state="accepted",
        rounds=1,
        llm_calls=3,
        failed_attempts=1,
        score_round0=0.2,
        score_final=0.6,
        hops={
            "sent": [t + 0.01, t + 1.45],
            "answered": [t + 1.32, t + 2.06],
            "scored": [t + 1.42, t + 2.16],
            "result": [None, t + 2.17],
        },
    )
    attempts = [
        att("w", t + 0.11, "error", "overload"),
        att("w", t + 0.81, attempt=2, delay_before_s=0.2),
        att("w", t + 1.55, round=1),
    ]
    return RunData(meta=meta(), questions=[q], attempts=attempts)


def test_waterfall_splits_e2e_into_hops() -> None:
    m = compute(two_round_run())
    parts = {k: v.mean or 0.0 for k, v in m.latency.waterfall.by_part.items()}
    expected = {
        "producer_send": 0.01,
        "queue_wait": 0.2,
        "backoff": 0.2,
        "llm": 1.5,
        "retry_tier": 0.0,
        "scoring": 0.2,
        "storage": 0.03,
        # answer -> qa.answers 2 x 0.01, re-queue 0.03, scored -> qa.results 0.01
        "other": 0.06,
    }
    assert list(parts) == list(WATERFALL_PARTS)
    for name, value in expected.items():
        assert parts[name] == pytest.approx(value, abs=1e-6), name
    assert sum(parts.values()) == pytest.approx(m.latency.e2e.mean, abs=1e-9)
    assert m.latency.from_first_attempt.max == pytest.approx(2.09)
    assert m.latency.producer_send.max == pytest.approx(0.01)


def test_an_acknowledgement_reported_after_the_pick_up_ends_the_send_at_the_pick_up() -> None:
    """The generator's client reports an acknowledgement when it gets round to it; under load a
    worker may already have taken the record. The send ends at the pick-up (the record was in
    Kafka by then), so no hop overlaps the next and the remainder is not negative."""
    t = T0 + 10
    q = QuestionOutcome(
        question_id="late-ack",
        intended_at=t,
        sent_at=t + 0.30,  # the ack as the generator reported it
        durable_at=t + 0.65,
        state="accepted",
        llm_calls=1,
        hops={"sent": [t + 0.30], "answered": [t + 0.56], "scored": [t + 0.60],
              "result": [t + 0.61]},
    )
    run = RunData(meta=meta(), questions=[q], attempts=[att("late-ack", t + 0.05)])
    m = compute(run)
    parts = {k: v.mean or 0.0 for k, v in m.latency.waterfall.by_part.items()}
    assert parts["producer_send"] == pytest.approx(0.05)
    assert parts["queue_wait"] == pytest.approx(0.0)
    assert parts["other"] == pytest.approx(0.02)
    assert min(parts.values()) >= 0.0
    assert sum(parts.values()) == pytest.approx(0.65)
    assert m.latency.producer_send.max == pytest.approx(0.05)
    (row,) = question_rows(run)
    assert row["producer_send_s"] == pytest.approx(0.05)


def test_question_rows_carry_the_derived_times() -> None:
    (row,) = question_rows(two_round_run())
    assert row["question_id"] == "w" and row["steady"] is True
    assert row["e2e_s"] == pytest.approx(2.2)
    assert row["llm_s"] == pytest.approx(1.5)
    assert row["error_classes"] == "overload"


# ---- quality -------------------------------------------------------------------------------


def quality_run() -> RunData:
    t = T0 + 20
    qs, attempts = [], []
    for i in range(10):
        r0 = 0.05 + 0.1 * i
        rounds = 1 if r0 < 0.5 else 0
        final = r0 + 0.2 if rounds else r0
        state = "accepted" if final >= 0.5 else "low_quality"
        qid = f"s{i}"
        qs.append(
            answered(
                qid,
                t,
                3.0,
                state=state,
                rounds=rounds,
                llm_calls=rounds + 1,
                score_round0=r0,
                score_final=final,
            )
        )
        attempts += [att(qid, t + 0.1 + k, round=k) for k in range(rounds + 1)]
    return RunData(meta=meta(score_threshold=0.5, max_rounds=1), questions=qs, attempts=attempts)


def test_quality_and_the_feedback_loop() -> None:
    q = compute(quality_run()).quality
    assert q.round0.mean == pytest.approx(0.5)
    assert q.final.mean == pytest.approx(0.6)
    assert q.extra_llm_calls == 5
    assert q.gain_per_extra_call == pytest.approx(1.0 / 5)
    assert q.sent_back_share == pytest.approx(0.5)
    assert q.low_quality_share == pytest.approx(0.3)
    assert q.accepted_share == pytest.approx(0.7)
    assert sum(q.round0.counts) == 10 and sum(q.final.counts) == 10


def test_threshold_analysis() -> None:
    ta = compute(quality_run()).quality.threshold_analysis
    row = next(r for r in ta.rows if r.threshold == 0.5)
    assert row.pass_round0 == pytest.approx(0.5)
    assert row.expected_generations == pytest.approx(1.5)  # 1 + (1 - p)
    assert row.accepted_final == pytest.approx(0.75)  # 1 - (1 - p)^2
    assert row.expected_llm_calls == pytest.approx(1.5)  # no error retries: 1 call per generation
    assert ta.cost_capped_threshold == pytest.approx(0.55)
    passes = [r.pass_round0 for r in ta.rows]
    assert passes == sorted(passes, reverse=True)


# ---- time series ---------------------------------------------------------------------------


@pytest.mark.parametrize(("span", "bucket"), [(60, 1.0), (300, 1.0), (600, 2.0), (10_000, 60.0)])
def test_bucket_width_is_adaptive(span: float, bucket: float) -> None:
    assert choose_bucket_s(span) == bucket


def test_timeseries_rates() -> None:
    ts = compute(ramp_run()).timeseries
    assert ts.bucket_s == 1.0
    assert ts.rates_per_s.offered[:100] == [1.0] * 100
    assert sum(ts.rates_per_s.completed) == 100
    assert ts.e2e_p50_s[50] == pytest.approx(1.40, rel=2**-10)
    assert ts.attempts_per_s == {}


def test_spec_secrets_never_reach_the_metrics() -> None:
    run = ramp_run()
    run.spec = {"llm": {"api_key": "sk-123", "model": "m"}, "db_password": "pw"}
    m = compute(run)
    assert m.spec == {"llm": {"model": "m"}}
