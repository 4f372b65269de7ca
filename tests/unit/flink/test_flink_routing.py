"""Routing of scored answers: thresholds, the round limit, what a sent-back record keeps, dead
letters, and stable event ids."""

from __future__ import annotations

import base64
import json

import pytest
from pydantic import ValidationError

from flink.routing import (
    Decision,
    EffectivePolicy,
    Output,
    PolicyDefaults,
    dead_letter_envelope,
    dead_letter_undecodable,
    decide,
    effective_policy,
    route_scored,
)
from pipeline.messages import (
    DeadLetter,
    DecodeError,
    Envelope,
    TerminalStatus,
    decode,
    decode_dlq_record,
    decode_event,
)

NOW = 1_718_000_100.0


def _decode_error(raw: bytes | None) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode(raw)
    return info.value


POLICY = EffectivePolicy(score_threshold=0.5, max_rounds=2, scorer="lexical")


# --- the effective policy ----------------------------------------------------------------------


def test_record_without_policy_uses_the_job_defaults(make_env):
    env = make_env()
    assert "policy" not in env.model_fields_set
    got = effective_policy(env, PolicyDefaults(0.7, 4, "minilm"))
    assert got == EffectivePolicy(0.7, 4, "minilm")


def test_record_policy_wins_field_by_field(make_env):
    env = make_env(policy={"score_threshold": 0.2, "scorer": "lexical"})
    got = effective_policy(env, PolicyDefaults(0.7, 4, "minilm"))
    assert got == EffectivePolicy(0.2, 4, "lexical")  # max_rounds not stated: the job's


def test_record_policy_stated_in_full(make_env):
    env = make_env(policy={"score_threshold": 0.9, "max_rounds": 0, "scorer": "minilm"})
    assert effective_policy(env, PolicyDefaults()) == EffectivePolicy(0.9, 0, "minilm")


def test_policy_defaults_are_validated():
    with pytest.raises(ValidationError):
        PolicyDefaults(score_threshold=1.5)
    with pytest.raises(ValidationError):
        PolicyDefaults(max_rounds=-1)


# --- the decision ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "round", "expected"),
    [
        (0.5, 0, Decision.ACCEPTED),  # at the threshold: accepted
        (0.99, 2, Decision.ACCEPTED),
        (0.49, 0, Decision.REGENERATE),
        (0.49, 1, Decision.REGENERATE),
        (0.49, 2, Decision.LOW_QUALITY),  # no rounds left
        (0.0, 7, Decision.LOW_QUALITY),  # past the limit (policy lowered meanwhile)
    ],
)
def test_decide(score, round, expected):
    assert decide(score, round, POLICY) is expected


def test_max_rounds_zero_never_sends_back():
    assert decide(0.0, 0, EffectivePolicy(0.5, 0, "lexical")) is Decision.LOW_QUALITY


# --- routed records ----------------------------------------------------------------------------


def _single(outcome, output: Output):
    records = outcome.by_output(output)
    assert len(records) == 1, outcome.records
    return records[0]


def test_accepted_goes_to_results_with_status_score_and_hop(make_env):
    env = make_env()
    outcome = route_scored(env, 0.8, POLICY, now=NOW)
    assert outcome.decision is Decision.ACCEPTED and outcome.score == 0.8
    assert {r.output for r in outcome.records} == {Output.RESULTS, Output.EVENTS}
    record = _single(outcome, Output.RESULTS)
    assert record.key == "q-1"
    out = decode(record.value)
    assert out.status is TerminalStatus.ACCEPTED
    assert out.score == 0.8 and out.round == 0
    assert out.answer is not None and out.answer.text == env.answer.text
    assert out.hops[-1].name == "flink.scored" and out.hops[-1].at == NOW
    assert out.hops[-1].round == 0
    assert out.hops[:-1] == env.hops


def test_scored_event_describes_the_decision(make_env):
    outcome = route_scored(make_env(), 0.3, POLICY, now=NOW)
    record = _single(outcome, Output.EVENTS)
    assert record.key == "exp-1"
    event = decode_event(record.value)
    assert (event.kind, event.stage, event.ts) == ("scored", "flink", NOW)
    assert (event.experiment_id, event.question_id, event.round) == ("exp-1", "q-1", 0)
    assert event.attrs == {
        "hop": "flink.scored",
        "score": 0.3,
        "scorer": "lexical",
        "decision": "regenerate",
        "threshold": 0.5,
        "max_rounds": 2,
    }


def test_below_threshold_with_rounds_left_goes_back_one_round_up(make_env):
    env = make_env(round=1, round_scores=[0.1], deferrals=2, due_at=1.0)
    outcome = route_scored(env, 0.2, POLICY, now=NOW)
    assert outcome.decision is Decision.REGENERATE
    record = _single(outcome, Output.QUESTIONS)
    assert record.key == "q-1"
    out = decode(record.value)
    assert out.round == 2
    assert (out.attempt, out.deferrals) == (0, 0)
    assert out.answer is None and out.score is None and out.status is None and out.due_at is None
    assert out.round_scores == [0.1, 0.2]
    # ids, history and the intended time are kept
    assert (out.experiment_id, out.question_id, out.send_seq) == ("exp-1", "q-1", 3)
    assert out.intended_at == env.intended_at and out.created_at == env.created_at
    assert out.attempts == env.attempts
    assert out.hops[:-1] == env.hops
    assert (out.hops[-1].name, out.hops[-1].round, out.hops[-1].at) == ("flink.scored", 1, NOW)
    assert out.question == env.question and out.reference_answer == env.reference_answer
    assert not outcome.by_output(Output.RESULTS)


def test_below_threshold_without_rounds_left_is_low_quality_in_results(make_env):
    env = make_env(round=2, round_scores=[0.1, 0.15])
    outcome = route_scored(env, 0.2, POLICY, now=NOW)
    assert outcome.decision is Decision.LOW_QUALITY
    out = decode(_single(outcome, Output.RESULTS).value)
    assert out.status is TerminalStatus.LOW_QUALITY
    assert out.round == 2 and out.score == 0.2 and out.round_scores == [0.1, 0.15]
    assert out.answer is not None
    assert not outcome.by_output(Output.QUESTIONS)


def test_empty_reference_is_not_sent_back(make_env):
    env = make_env(reference_answer="  ")
    outcome = route_scored(env, 0.0, POLICY, now=NOW)
    assert outcome.decision is Decision.NO_REFERENCE
    assert decode(_single(outcome, Output.RESULTS).value).status is TerminalStatus.LOW_QUALITY


def test_route_does_not_modify_its_input(make_env):
    env = make_env()
    before = env.model_dump()
    route_scored(env, 0.1, POLICY, now=NOW)
    route_scored(env, 0.9, POLICY, now=NOW)
    assert env.model_dump() == before


def test_event_ids_are_stable_per_record_and_round(make_env):
    def event_id(env: Envelope, score: float, now: float) -> str:
        record = _single(route_scored(env, score, POLICY, now=now), Output.EVENTS)
        return decode_event(record.value).event_id

    env = make_env()
    # a redelivery (same record, scored again later) has the same id ...
    assert event_id(env, 0.1, NOW) == event_id(env, 0.1, NOW + 60)
    # ... another round, question or send does not
    assert event_id(env, 0.1, NOW) != event_id(make_env(round=1), 0.1, NOW)
    assert event_id(env, 0.1, NOW) != event_id(make_env(question_id="q-2"), 0.1, NOW)
    assert event_id(env, 0.1, NOW) != event_id(make_env(send_seq=4), 0.1, NOW)


# --- dead letters ------------------------------------------------------------------------------


def test_envelope_that_cannot_be_scored_is_dead_lettered_with_its_reason(make_env):
    env = make_env(answer=None)
    outcome = dead_letter_envelope(env, "missing_answer", now=NOW)
    assert outcome.decision is Decision.DEAD_LETTERED and outcome.score is None
    record = _single(outcome, Output.DLQ)
    assert record.key == "q-1"
    out = decode_dlq_record(record.value)
    assert isinstance(out, Envelope)
    assert out.status is TerminalStatus.DEAD_LETTERED and out.dlq_reason == "missing_answer"
    assert out.hops[-1].name == "dead_lettered"
    event = decode_event(_single(outcome, Output.EVENTS).value)
    assert (event.kind, event.attrs) == ("dead_letter", {"reason": "missing_answer"})


def test_undecodable_json_keeps_raw_bytes_coordinates_and_ids():
    raw = b'{"experiment_id": "exp-9", "question_id": "q-9", "round": "x"}'
    error = _decode_error(raw)
    outcome = dead_letter_undecodable(
        raw, error, topic="qa.answers", partition=4, offset=17, key=b"q-9", now=NOW
    )
    assert outcome.decision is Decision.DEAD_LETTERED and outcome.experiment_id == "exp-9"
    record = _single(outcome, Output.DLQ)
    assert record.key == "q-9"
    letter = decode_dlq_record(record.value)
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "schema_violation: round" and letter.stage == "flink"
    assert (letter.source.topic, letter.source.partition, letter.source.offset) == (
        "qa.answers",
        4,
        17,
    )
    assert letter.raw_bytes() == raw
    event = decode_event(_single(outcome, Output.EVENTS).value)
    assert event.experiment_id == "exp-9" and event.attrs["reason"] == "schema_violation: round"


def test_undecodable_binary_has_no_event_when_no_experiment_is_known():
    raw = b"\xff\xfe not utf-8"
    error = _decode_error(raw)
    outcome = dead_letter_undecodable(
        raw, error, topic="qa.answers", partition=0, offset=1, key=None, now=NOW
    )
    assert outcome.experiment_id is None
    assert [r.output for r in outcome.records] == [Output.DLQ]
    letter = decode_dlq_record(outcome.records[0].value)
    assert letter.reason == "invalid_encoding" and letter.payload_encoding == "base64"
    assert base64.b64decode(letter.payload) == raw


def test_undecodable_null_value():
    error = _decode_error(None)
    outcome = dead_letter_undecodable(
        None, error, topic="t", partition=None, offset=None, key=b"k", now=NOW
    )
    letter = json.loads(outcome.records[0].value)
    assert letter["reason"] == "empty" and letter["payload_size"] == 0
    assert outcome.records[0].key == "k"
