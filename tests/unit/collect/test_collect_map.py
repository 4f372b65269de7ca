"""Stored rows -> QuestionOutcome / LlmAttempt / WindowEvent (pure mapping)."""

from __future__ import annotations

import math

import pytest

from experiments.collect_map import (
    attempt_from_row,
    attempt_workers,
    attempts_from_events,
    attempts_from_rows,
    cache_hit_from_event,
    fault_from_event,
    faults_from_events,
    intended_range,
    load_window,
    metric_hops,
    pacing_lag,
    question_from_row,
    slo_of,
    window_from_event,
    with_workers,
)
from experiments.metrics.model import LlmAttempt, PacingLag

T = 1_750_000_000.0


def answers_row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "question_id": "q1", "has_row": True, "terminal_state": "accepted", "dlq_reason": None,
        "rounds": 0, "llm_calls": 1, "failed_attempts": 0, "score": 0.8, "score_round0": 0.8,
        "access_count": 1, "intended_at": T, "sent_at": T + 0.001, "first_attempt_at": T + 0.1,
        "completed_at": T + 0.9, "durable_at": T + 1.0,
        "hops": {"generator.sent": [T + 0.001], "worker.received": [T + 0.05],
                 "worker.answered": [T + 0.6], "flink.scored": [T + 0.9]},
        "max_rounds": 2, "score_threshold": 0.3, "sent_ack_at": T + 0.004,
        "sent_intended_at": T,
    }
    row.update(over)
    return row


class TestMetricHops:
    def test_round0_sent_is_the_ack_and_names_are_mapped(self) -> None:
        hops = metric_hops({"generator.sent": [1.0], "worker.answered": [3.0],
                            "flink.scored": [4.0], "worker.received": [2.0]},
                           sent_at=1.5, rounds=0)
        assert hops == {"sent": [1.5], "answered": [3.0], "scored": [4.0]}

    def test_later_rounds_are_sent_when_flink_sent_them_back(self) -> None:
        hops = metric_hops({"generator.sent": [1.0], "worker.answered": [3.0, 6.0],
                            "flink.scored": [4.0, 7.0]}, sent_at=None, rounds=1)
        assert hops["sent"] == [1.0, 4.0]
        assert hops["answered"] == [3.0, 6.0]
        assert hops["scored"] == [4.0, 7.0]

    def test_missing_hops_are_none_per_round_or_absent(self) -> None:
        hops = metric_hops({"worker.answered": [None, 6.0]}, sent_at=1.0, rounds=1)
        assert hops == {"sent": [1.0, None], "answered": [None, 6.0]}
        assert metric_hops(None, sent_at=None, rounds=0) == {}

    def test_no_result_hop_is_invented(self) -> None:
        hops = metric_hops({"flink.scored": [4.0]}, sent_at=1.0, rounds=0)
        assert "result" not in hops


class TestQuestionFromRow:
    def test_terminal_row(self) -> None:
        q = question_from_row(answers_row())
        assert q is not None
        assert q.state == "accepted" and not q.cache_hit
        assert q.sent_at == T + 0.004  # the Kafka ack (event), not the envelope's pre-send stamp
        assert q.durable_at == T + 1.0 and q.first_attempt_at == T + 0.1
        assert q.score_final == 0.8 and q.score_round0 == 0.8
        assert q.hops["sent"] == [T + 0.004]

    def test_sent_at_falls_back_to_the_envelope_hop(self) -> None:
        q = question_from_row(answers_row(sent_ack_at=None))
        assert q is not None and q.sent_at == T + 0.001

    def test_dead_lettered_has_reason_and_no_final_score(self) -> None:
        q = question_from_row(answers_row(terminal_state="dead_lettered", score=0.9,
                                          dlq_reason="invalid_request: 400"))
        assert q is not None
        assert q.state == "dead_lettered" and q.dlq_reason == "invalid_request: 400"
        assert q.score_final is None

    def test_intended_at_from_the_generator_event_when_the_row_lacks_it(self) -> None:
        q = question_from_row(answers_row(intended_at=None, sent_intended_at=T - 5))
        assert q is not None and q.intended_at == T - 5

    def test_unknown_intended_send_is_skipped(self) -> None:
        assert question_from_row(answers_row(intended_at=None, sent_intended_at=None)) is None

    def test_in_flight_takes_its_counts_from_the_attempt_events(self) -> None:
        row = {"question_id": "q9", "has_row": False, "terminal_state": None, "durable_at": None,
               "sent_ack_at": T + 0.01, "sent_intended_at": T, "hops": None}
        attempts = [
            LlmAttempt(question_id="q9", round=0, attempt=1, started_at=T + 1, ended_at=T + 2,
                       status="error", error_class="overload"),
            LlmAttempt(question_id="q9", round=0, attempt=2, started_at=T + 3, ended_at=T + 4,
                       status="ok"),
            LlmAttempt(question_id="q9", round=1, attempt=1, started_at=T + 5, ended_at=T + 6,
                       status="error", error_class="rate_limited"),
        ]
        q = question_from_row(row, attempts)
        assert q is not None
        assert q.state == "in_flight" and q.durable_at is None
        assert (q.llm_calls, q.failed_attempts, q.rounds) == (3, 2, 1)
        assert q.first_attempt_at == T + 1
        assert q.access_count == 1
        assert q.hops == {"sent": [T + 0.01, None]}

    def test_placeholder_row_keeps_its_access_count(self) -> None:
        row = {"question_id": "q9", "has_row": True, "terminal_state": None, "access_count": 3,
               "intended_at": None, "sent_intended_at": T, "sent_ack_at": T + 0.01, "hops": {},
               "rounds": 0, "llm_calls": 0, "failed_attempts": 0, "durable_at": None}
        q = question_from_row(row)
        assert q is not None and q.state == "in_flight" and q.access_count == 3


def attempt_row(qid: str, rnd: int, n: int, status: str, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "question_id": qid, "round": rnd, "number": n, "status": status,
        "error_class": None if status == "ok" else "rate_limited", "started_at": T + n,
        "ended_at": T + n + 0.5, "delay_before_s": 0.0, "tier_wait_s": 0.0, "deferred": False,
        "tier": None}
    row.update(over)
    return row


def test_attempt_row() -> None:
    a = attempt_from_row(attempt_row("q1", 1, 2, "error", tier_wait_s=5.2), came_from_tier="5s")
    assert (a.round, a.attempt, a.status, a.tier) == (1, 2, "error", "5s")
    assert a.error_class == "rate_limited"
    assert a.tier_wait_s == 5.2 and a.ended_at - a.started_at == pytest.approx(0.5)


def test_tier_moves_to_the_attempt_that_came_back() -> None:
    rows = [
        attempt_row("q1", 0, 1, "error", deferred=True, tier="30s", delay_s=20.0),
        attempt_row("q1", 0, 2, "error", tier_wait_s=20.1, deferred=True, tier="5s"),
        attempt_row("q1", 0, 3, "ok", tier_wait_s=5.1),
        attempt_row("q1", 1, 1, "ok"),  # a new round: nothing came back from a tier
        attempt_row("q2", 0, 1, "ok"),
    ]
    attempts = attempts_from_rows(rows)
    assert [a.tier for a in attempts] == [None, "30s", "5s", None, None]
    assert [a.tier_wait_s for a in attempts] == [0.0, 20.1, 5.1, 0.0, 0.0]


class TestAttemptsFromEvents:
    @staticmethod
    def event(rnd: int, n: int, ts: float, **attrs: object) -> dict[str, object]:
        return {"question_id": "q", "round": rnd, "attempt": n, "ts": ts, "attrs": attrs}

    def test_waits_come_from_the_previous_route_and_redeliveries_are_dropped(self) -> None:
        rows = [
            self.event(0, 1, T + 1.0, started_at=T + 0.5, status="error", error_class="overload",
                       action="backoff", delay_s=0.4),
            self.event(0, 2, T + 2.0, started_at=T + 1.4, status="error",
                       error_class="rate_limited", action="defer", delay_s=5.0, tier="5s"),
            self.event(0, 2, T + 9.0, started_at=T + 8.0, status="error",  # redelivery
                       error_class="rate_limited", action="defer", delay_s=5.0, tier="5s"),
            self.event(0, 3, T + 7.5, started_at=T + 7.1, status="ok", action="answer"),
        ]
        (attempts,) = attempts_from_events(rows).values()
        assert [a.attempt for a in attempts] == [1, 2, 3]
        assert attempts[1].delay_before_s == 0.4 and attempts[1].tier_wait_s == 0.0
        assert attempts[1].started_at == T + 1.4  # the first event of (0, 2) is kept
        assert attempts[2].tier_wait_s == pytest.approx(5.1) and attempts[2].tier == "5s"
        assert attempts[2].status == "ok" and attempts[2].error_class is None
        assert attempts[0].error_class == "overload"

    def test_start_from_latency_when_missing(self) -> None:
        (attempts,) = attempts_from_events(
            [self.event(0, 1, T + 2.0, latency_s=0.75, status="ok")]).values()
        assert attempts[0].started_at == pytest.approx(T + 1.25)


def test_cache_hit_event() -> None:
    q = cache_hit_from_event({"question_id": "q1", "ts": T + 10.02, "attrs": {
        "intended_at": T + 10.0, "access_count": 3, "terminal_state": "low_quality",
        "score": 0.2, "send_seq": 7}})
    assert q.cache_hit and q.question_id == "q1"
    assert q.state == "low_quality" and q.llm_calls == 0 and q.access_count == 3
    assert q.durable_at is not None and q.durable_at - q.intended_at == pytest.approx(0.02)
    assert q.score_final == 0.2


def test_window_event() -> None:
    w = window_from_event({"attrs": {"window_start": T, "window_end": T + 10, "window_s": 10,
                                     "scored": 5, "accepted": 3, "sent_back": 1, "low_quality": 1,
                                     "no_reference": 0, "dead_lettered": 2, "mean_score": 0.5}})
    assert w is not None
    assert (w.scored, w.accepted, w.sent_back, w.low_quality, w.mean_score) == (5, 3, 1, 1, 0.5)
    assert window_from_event({"attrs": {}}) is None


class TestLoadWindow:
    def test_flat_and_nested_summaries(self) -> None:
        assert load_window({"started_at": T, "ended_at": T + 60}) == (T, T + 60)
        assert load_window({"load": {"started_at": T, "ended_at": T + 60}}) == (T, T + 60)

    def test_missing_or_empty(self) -> None:
        assert load_window(None) is None
        assert load_window({"started_at": 0.0, "ended_at": 0.0}) is None
        assert load_window({"started_at": T}) is None


#: ``Pacer.lag_stats()`` as the load summary stores it
LAG_STATS = {"max_lag_s": 1.5, "p50_lag_s": 0.002, "p99_lag_s": 0.9, "late_sends": 12}


class TestPacingLag:

    def test_flat_and_nested_summaries(self) -> None:
        want = PacingLag(p50_s=0.002, p99_s=0.9, max_s=1.5, late_sends=12)
        assert pacing_lag({"started_at": T, "lag": LAG_STATS}) == want
        assert pacing_lag({"load": {"started_at": T, "lag": LAG_STATS}, "report_dir": "x"}) == want

    def test_missing_empty_or_not_a_number_is_unknown(self) -> None:
        assert pacing_lag(None) is None
        assert pacing_lag({"started_at": T, "ended_at": T + 60}) is None  # an older summary
        assert pacing_lag({"load": {"lag": {}}}) is None  # the load crashed before its end
        assert pacing_lag({"lag": {**LAG_STATS, "p99_lag_s": None}}) is None
        assert pacing_lag({"lag": {**LAG_STATS, "max_lag_s": "nan"}}) is None

    def test_a_late_send_count_or_median_missing_reads_as_zero(self) -> None:
        lag = pacing_lag({"lag": {"max_lag_s": 0.02, "p99_lag_s": 0.01}})
        assert lag == PacingLag(p50_s=0.0, p99_s=0.01, max_s=0.02, late_sends=0)


def test_intended_range_and_slo() -> None:
    q = question_from_row(answers_row())
    assert q is not None
    assert intended_range([q]) == (T, T)
    assert intended_range([]) is None
    assert slo_of({"slo_s": 0}) is None and slo_of({}) is None and slo_of({"slo_s": 5}) == 5.0
    assert slo_of({"slo_s": math.nan}) is None


def fault_row(event_id: str, **attrs: object) -> dict[str, object]:
    base: dict[str, object] = {
        "at_s": 8, "action": "pause", "target": "worker", "duration_s": 20, "status": 503,
        "worker": 1, "started_at": T + 8.1, "ended_at": T + 28.2, "detail": "pause worker-1",
        "error": None,
    }
    base.update(attrs)
    return {"event_id": event_id, "ts": T + 8.1, "attrs": base}


def test_fault_events_become_fault_models_once_each() -> None:
    pause = fault_from_event(fault_row("a"))
    assert pause is not None
    assert (pause.label, pause.status, pause.worker, pause.ended_at) == (
        "pause worker 1", None, 1, T + 28.2)  # status only means something for an outage
    outage = fault_from_event(fault_row("o", action="outage", target="llm", worker=None))
    assert outage is not None and outage.label == "outage llm (503)"
    failed = fault_from_event(fault_row("f", action="kill", target="kafka", started_at=None,
                                        ended_at=None, error="Fault: refused"))
    assert failed is not None and failed.started_at == T + 8.1 and failed.error == "Fault: refused"
    assert fault_from_event({"event_id": "x", "ts": T, "attrs": {"action": "kill"}}) is None
    # the recorder retried its insert under a new event id: one fault, stored twice
    rows = [fault_row("b", at_s=30, started_at=T + 30), fault_row("a"), fault_row("a2")]
    assert [f.at_s for f in faults_from_events(rows)] == [8, 30]


class TestAttemptWorkers:
    """Each attempt's worker, from its ``llm_attempt`` event (the attempts table has none)."""

    @staticmethod
    def event(qid: str, rnd: int, n: int, ts: float, worker: str | None) -> dict[str, object]:
        return {"question_id": qid, "round": rnd, "attempt": n, "ts": ts, "worker": worker}

    def test_the_first_event_of_a_redelivered_attempt_names_its_worker(self) -> None:
        workers = attempt_workers([
            self.event("q1", 0, 1, T + 5.0, "hostb-0-7"),  # the redelivery, later
            self.event("q1", 0, 1, T + 1.0, "hosta-0-3"),
            self.event("q1", 0, 2, T + 6.0, "hostb-0-7"),
            self.event("q2", 1, 1, T + 2.0, None),  # no worker: skipped
            {"question_id": None, "round": 0, "attempt": 1, "ts": T, "worker": "x-0-1"},
        ])
        assert workers == {("q1", 0, 1): "hosta-0-3", ("q1", 0, 2): "hostb-0-7"}

    def test_stored_attempts_get_their_worker_and_the_rest_are_counted(self) -> None:
        rows = [attempt_row("q1", 0, 1, "error"), attempt_row("q1", 0, 2, "ok"),
                attempt_row("q2", 0, 1, "ok")]
        attempts = attempts_from_rows(rows)
        left = with_workers(attempts, {("q1", 0, 1): "h-0-1", ("q1", 0, 2): "h-1-2"})
        assert [a.worker for a in attempts] == ["h-0-1", "h-1-2", None] and left == 1

    def test_in_flight_attempts_carry_the_worker_of_their_event(self) -> None:
        event = {"question_id": "q", "round": 0, "attempt": 1, "ts": T + 2.0,
                 "attrs": {"started_at": T + 1.0, "status": "ok", "worker": "h-2-9"}}
        (attempts,) = attempts_from_events([event]).values()
        assert attempts[0].worker == "h-2-9"
        assert with_workers(attempts, {("q", 0, 1): "other-0-1"}) == 0
        assert attempts[0].worker == "h-2-9"  # the event's own worker is kept
