"""Envelopes and dead letters -> rows, without a database."""

from __future__ import annotations

import json

from pipeline.kafka.records import Coordinates
from pipeline.messages import (
    Answer,
    Attempt,
    AttemptStatus,
    Envelope,
    ErrorClass,
    ExperimentPolicy,
    Hop,
    TerminalStatus,
    build_dead_letter,
)
from pipeline.storage import rows as R
from pipeline.storage.migrate import discover
from pipeline.topics import load_topics

TOPICS = load_topics(prefix="")
COORDS = Coordinates("qa.results", 2, 40)


def tier_of(delay: float) -> str:
    return TOPICS.tier_for(delay).tier


def _attempt(round_: int, n: int, start: float, error: ErrorClass | None = None,
             delay: float | None = None) -> Attempt:
    return Attempt(round=round_, number=n, status=AttemptStatus.ERROR if error else AttemptStatus.OK,
                   error_class=error, started_at=start, ended_at=start + 1.0, delay_s=delay)


def final_envelope() -> Envelope:
    """Round 0: overload (backoff 0.5), rate limit (deferred 12 s), ok, score too low.
    Round 1: ok, accepted."""
    hops = [Hop(name="generator.sent", at=100.0), Hop(name="worker.received", at=100.2),
            Hop(name="worker.deferred", at=103.6), Hop(name="relay.released", at=115.7),
            Hop(name="worker.received", at=115.8), Hop(name="worker.answered", at=117.0),
            Hop(name="flink.scored", at=117.5), Hop(name="worker.received", at=118.0, round=1),
            Hop(name="worker.answered", at=119.2, round=1),
            Hop(name="flink.scored", at=119.6, round=1)]
    attempts = [_attempt(0, 1, 100.3, ErrorClass.OVERLOAD, 0.5),
                _attempt(0, 2, 101.8, ErrorClass.RATE_LIMITED, 12.0),
                _attempt(0, 3, 115.9), _attempt(1, 1, 118.1)]
    return Envelope(
        experiment_id="e", question_id="q", send_seq=3, round=1, attempt=1,
        question={"title": "Why?", "content": "c"}, reference_answer="ref", topic="Health",
        topic_id=2, policy=ExperimentPolicy(ref="p1", max_rounds=2), intended_at=99.9,
        created_at=100.0, hops=hops, attempts=attempts,
        answer=Answer(text="final answer", model="sim-gpt", completion_tokens=30), score=0.8,
        round_scores=[0.1], status=TerminalStatus.ACCEPTED)


def test_answer_row_has_rounds_scores_hops_and_counts() -> None:
    row = R.answer_row(final_envelope(), COORDS, durable_at=120.0)
    assert set(row) == set(R.ANSWER_COLUMNS)
    assert row["terminal_state"] == "accepted" and row["llm_answer"] == "final answer"
    assert (row["rounds"], row["attempts"], row["llm_calls"], row["failed_attempts"],
            row["deferrals"]) == (1, 1, 4, 2, 1)
    assert json.loads(row["round_scores"]) == [0.1, 0.8] and row["score_round0"] == 0.1
    hops = json.loads(row["hops"])
    assert hops["worker.received"] == [100.2, 118.0]  # first per round
    assert hops["generator.sent"] == [100.0]
    assert (row["sent_at"], row["first_attempt_at"], row["completed_at"]) == (100.0, 100.3, 119.6)
    assert (row["source_topic"], row["source_partition"], row["source_offset"]) == ("qa.results", 2, 40)


def test_attempt_rows_split_backoff_from_tier_wait() -> None:
    rows = R.attempt_rows(final_envelope(), tier_of)
    assert [(r["round"], r["number"]) for r in rows] == [(0, 1), (0, 2), (0, 3), (1, 1)]
    first, limited, ok, next_round = rows
    assert (first["deferred"], first["delay_before_s"]) == (False, 0.0)
    assert (limited["delay_before_s"], limited["tier_wait_s"]) == (0.5, 0.0)  # backoff after #1
    assert (limited["deferred"], limited["tier"]) == (True, "30s")  # 12 s -> the 30 s tier
    assert ok["tier_wait_s"] == 115.9 - 103.6 and ok["delay_before_s"] == 0.0
    assert next_round["delay_before_s"] == 0.0 and next_round["tier_wait_s"] == 0.0
    assert set(first) == set(R.ATTEMPT_COLUMNS)


def test_precedence_keeps_the_best_outcome_per_question() -> None:
    env = final_envelope()
    accepted = R.answer_row(env, COORDS, durable_at=1.0)
    dead = R.answer_row(env.model_copy(update={"status": TerminalStatus.DEAD_LETTERED,
                                               "dlq_reason": "x", "round": 0}), COORDS,
                        durable_at=2.0)
    rows = R.RowSet.empty()
    rows.add_answer(accepted, [{"n": 1}])
    rows.add_answer(dead, [])
    assert rows.answers[("e", "q")] is accepted and rows.attempts[("e", "q")] == [{"n": 1}]
    assert R.precedence(accepted) > R.precedence(dead)


def test_dead_letters_raw_and_enveloped() -> None:
    letter = build_dead_letter(b'{"experiment_id": "e", "question_id": "q", "round": -1}',
                               reason="schema_violation: round", topic="qa.questions",
                               partition=1, offset=9, at=50.0, stage="worker")
    coords = Coordinates("qa.dlq", 0, 3)
    row = R.dead_letter_row(letter, coords, durable_at=51.0)
    assert set(row) == set(R.DEAD_LETTER_COLUMNS)
    assert (row["kind"], row["code"], row["record_topic"], row["source_topic"], row["source_offset"]) \
        == ("raw", "schema_violation", "qa.dlq", "qa.questions", 9)
    answer = R.answer_row_for_dead_letter(letter, coords, durable_at=51.0)
    assert answer is not None and answer["terminal_state"] == "dead_lettered"
    assert R.answer_row_for_dead_letter(
        build_dead_letter(b"junk", reason="invalid_json", topic="t", partition=0, offset=0, at=1.0),
        coords, durable_at=1.0) is None

    env = final_envelope().model_copy(update={"status": TerminalStatus.DEAD_LETTERED,
                                              "dlq_reason": "quota_exhausted: after 3 deferrals"})
    env.record_hop("dead_lettered", 130.0)
    raw = b"x" * 10
    row = R.dead_letter_row_for_envelope(env, raw, coords, durable_at=131.0, max_payload_bytes=4)
    assert (row["kind"], row["code"], row["stage"], row["dead_lettered_at"]) == \
        ("envelope", "quota_exhausted", "flink", 130.0)
    assert row["payload"] == "xxxx" and row["payload_truncated"] and row["payload_size"] == 10


def test_migrations_are_numbered() -> None:
    migrations = discover()
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert migrations[0].name == "initial" and "CREATE TABLE IF NOT EXISTS answers" in migrations[0].sql
