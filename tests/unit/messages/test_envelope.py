"""The envelope contract: round-trips, helpers, every decode failure reason, dead letters, schema."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys

import jsonschema
import pytest

from pipeline import messages as m
from pipeline.messages import (
    Answer,
    Attempt,
    DeadLetter,
    DecodeError,
    Envelope,
    Event,
    build_dead_letter,
    decode,
    decode_dlq_record,
    decode_event,
    encode,
)
from pipeline.schemas import SCHEMAS, load_schema, render_schema, stale_schemas

T0 = 1_718_000_000.0


def make_envelope(**over) -> Envelope:
    fields = dict(
        experiment_id="exp-1",
        question_id="q-abc",
        send_seq=7,
        question={"title": "Why is the sky blue?", "content": 'Line one\nline "two"'},
        reference_answer="Rayleigh scattering.",
        topic="Science & Mathematics",
        topic_id=1,
        policy={
            "ref": "p1",
            "retry": {"kind": "exponential", "base": 0.5, "cap": None},
            "score_threshold": 0.35,
            "max_rounds": 3,
            "scorer": "minilm",
        },
        intended_at=T0,
        created_at=T0 + 0.001,
    )
    fields.update(over)
    return Envelope.model_validate(fields)


def full_envelope() -> Envelope:
    env = make_envelope()
    env.record_hop(m.HopName.GENERATOR_SENT, T0 + 0.002).record_hop("worker.received", T0 + 0.01)
    env.record_attempt(
        Attempt(
            round=0,
            number=1,
            status="error",
            error_class="overload",
            http_status=503,
            delay_s=0.4,
            started_at=T0 + 0.01,
            ended_at=T0 + 0.2,
        )
    )
    env.record_attempt(
        Attempt(round=0, number=2, status="ok", started_at=T0 + 0.6, ended_at=T0 + 1.6)
    )
    env.answer = Answer(
        text="Because of scattering é ☀", model="sim", prompt_tokens=12, completion_tokens=30
    )
    env.score = 0.71
    env.status = m.TerminalStatus.ACCEPTED
    return env


def test_round_trip_keeps_every_field() -> None:
    env = full_envelope()
    data = encode(env)
    assert isinstance(data, bytes)
    back = decode(data)
    assert back == env
    assert back.policy.retry == {
        "kind": "exponential",
        "base": 0.5,
        "cap": None,
    }  # None inside dicts kept
    assert back.attempts[0].error_class is m.ErrorClass.OVERLOAD
    assert back.attempts[1].latency_s == pytest.approx(1.0)
    assert back.question.content == 'Line one\nline "two"'
    assert encode(back) == data


def test_encoding_is_compact_and_omits_none() -> None:
    obj = json.loads(encode(make_envelope()))
    assert "answer" not in obj and "score" not in obj and "due_at" not in obj
    assert obj["schema_version"] == m.SCHEMA_VERSION
    assert obj["intended_at"] == T0


def test_counters_and_hops() -> None:
    env = full_envelope()
    assert env.attempt == 2
    assert env.hop_time("worker.received") == T0 + 0.01
    assert env.hop_time(m.HopName.WORKER_RECEIVED) == T0 + 0.01
    assert json.loads(encode(env))["hops"][0] == {
        "name": "generator.sent",
        "at": T0 + 0.002,
        "round": 0,
    }
    assert env.hop_time("flink.scored") is None
    assert env.kafka_key() == b"q-abc"
    with pytest.raises(ValueError, match="round"):
        env.record_attempt(Attempt(round=1, number=1, status="ok", started_at=T0, ended_at=T0))


def test_next_round_resets_per_round_state_and_keeps_history() -> None:
    env = full_envelope()
    env.status = None
    env.deferrals = 1
    nxt = env.next_round()
    assert (nxt.round, nxt.attempt, nxt.deferrals) == (1, 0, 0)
    assert nxt.answer is None and nxt.score is None and nxt.status is None
    assert nxt.round_scores == [0.71]
    assert nxt.attempts == env.attempts and nxt.hops == env.hops
    assert nxt.intended_at == env.intended_at and nxt.question_id == env.question_id
    nxt.record_hop("worker.received", T0 + 5)
    assert len(env.hops) == 2  # deep copy: the original is untouched
    assert nxt.hop_time("worker.received", round=0) == T0 + 0.01
    assert nxt.hop_time("worker.received") == T0 + 5


def test_model_rules() -> None:
    with pytest.raises(ValueError, match="error_class is required"):
        Attempt(round=0, number=1, status="error", started_at=T0, ended_at=T0)
    with pytest.raises(ValueError, match="error_class must be empty"):
        Attempt(round=0, number=1, status="ok", error_class="overload", started_at=T0, ended_at=T0)
    with pytest.raises(ValueError, match="before started_at"):
        Attempt(round=0, number=1, status="ok", started_at=T0, ended_at=T0 - 1)
    with pytest.raises(ValueError, match="dlq_reason is required"):
        make_envelope(status="dead_lettered")
    env = make_envelope(status="dead_lettered", dlq_reason="invalid_request: 400")
    assert decode(encode(env)).dlq_reason == "invalid_request: 400"


def _reason(data, **kw) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode(data, **kw)
    return info.value


def _mutated(**changes) -> bytes:
    obj = json.loads(encode(make_envelope()))
    for key, value in changes.items():
        if value is _DROP:
            obj.pop(key)
        else:
            obj[key] = value
    return json.dumps(obj).encode()


_DROP = object()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "empty"),
        (b"", "empty"),
        (b"\xff\xfe{}", "invalid_encoding"),
        (b"{not json", "invalid_json"),
        (b'{"score": NaN}', "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (b'"text"', "not_an_object"),
        (_mutated(schema_version=2), "unsupported_version"),
        (_mutated(question_id=_DROP), "schema_violation: question_id"),
        (_mutated(question_id=""), "schema_violation: question_id"),
        (_mutated(round=-1), "schema_violation: round"),
        (_mutated(round="two"), "schema_violation: round"),
        (_mutated(question={"content": "x"}), "schema_violation: question.title"),
        (_mutated(intended_at=-5), "schema_violation: intended_at"),
        (_mutated(unexpected=1), "schema_violation: unexpected"),
        (_mutated(status="done"), "schema_violation: status"),
        (_mutated(schema_version=0), "schema_violation: schema_version"),
        (
            _mutated(
                attempts=[
                    {
                        "round": 0,
                        "number": 1,
                        "status": "ok",
                        "started_at": T0,
                        "ended_at": T0,
                        "error_class": "gremlins",
                    }
                ]
            ),
            "schema_violation: attempts.0.error_class",
        ),
        (_mutated(status="dead_lettered"), "schema_violation: $"),
    ],
)
def test_every_decode_failure_has_a_machine_readable_reason(data, reason: str) -> None:
    err = _reason(data)
    assert err.reason == reason
    assert err.code == reason.split(":")[0]
    assert err.field == (reason.split(": ", 1)[1] if ":" in reason else None)
    assert isinstance(err, ValueError)


def test_oversized_uses_the_limit_and_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(make_envelope(reference_answer="x" * 5000))
    assert _reason(data, max_bytes=1024).reason == "oversized"
    assert decode(data, max_bytes=len(data)).reference_answer == "x" * 5000
    monkeypatch.setenv("HARNESS_MESSAGE_MAX_BYTES", "2048")
    m.message_settings.cache_clear()
    try:
        assert m.message_settings().max_bytes == 2048
        assert _reason(data).reason == "oversized"
    finally:
        monkeypatch.delenv("HARNESS_MESSAGE_MAX_BYTES")
        m.message_settings.cache_clear()
    assert m.message_settings().max_bytes == 1024 * 1024


def test_event_round_trip_and_key() -> None:
    env = full_envelope()
    ev = Event.of(
        env,
        stage="worker",
        kind="llm_attempt",
        ts=T0 + 1.6,
        latency_s=1.0,
        status="ok",
        error_class=None,
    )
    assert (ev.experiment_id, ev.question_id, ev.round, ev.attempt) == ("exp-1", "q-abc", 0, 2)
    assert decode_event(encode(ev)) == ev
    assert ev.kafka_key() == b"exp-1"
    assert (
        Event(experiment_id="e", stage="flink", kind="flink_window", ts=T0).event_id != ev.event_id
    )
    with pytest.raises(DecodeError) as info:
        decode_event(encode(ev).replace(b'"stage":"worker"', b'"stage":"Worker!"'))
    assert info.value.reason == "schema_violation: stage"


def test_dead_letter_for_text_payload() -> None:
    raw = _mutated(round=-1)
    err = _reason(raw)
    dl = build_dead_letter(
        raw,
        reason=err,
        topic="qa.questions",
        partition=2,
        offset=41,
        key=b"q-abc",
        at=T0,
        stage="worker",
    )
    assert dl.reason == "schema_violation: round" and dl.code == "schema_violation"
    assert (dl.source.topic, dl.source.partition, dl.source.offset, dl.source.key) == (
        "qa.questions",
        2,
        41,
        "q-abc",
    )
    assert (dl.experiment_id, dl.question_id) == ("exp-1", "q-abc")
    assert dl.payload_encoding == "text" and dl.raw_bytes() == raw and not dl.payload_truncated
    assert dl.payload_sha256 == hashlib.sha256(raw).hexdigest() and dl.payload_size == len(raw)
    assert dl.kafka_key() == b"q-abc"
    back = decode_dlq_record(encode(dl))
    assert isinstance(back, DeadLetter) and back == dl


def test_dead_letter_for_binary_and_truncated_payloads() -> None:
    raw = b"\x00\xff" * 100
    dl = build_dead_letter(
        raw,
        reason="invalid_encoding",
        topic="qa.answers",
        partition=0,
        offset=1,
        key=b"\xff",
        at=T0,
        max_payload_bytes=50,
    )
    assert dl.payload_encoding == "base64" and dl.payload_truncated
    assert dl.raw_bytes() == raw[:50] and base64.b64decode(dl.payload) == raw[:50]
    assert dl.payload_size == 200 and dl.source.key == base64.b64encode(b"\xff").decode()
    assert dl.question_id is None and dl.kafka_key() == dl.source.key.encode()
    # a cut through a multi-byte character keeps the text form, minus the partial character
    text = ("é" * 30).encode()
    dl = build_dead_letter(
        text,
        reason="oversized",
        topic="t",
        partition=None,
        offset=None,
        at=T0,
        max_payload_bytes=11,
    )
    assert dl.payload_encoding == "text" and dl.payload == "é" * 5 and dl.payload_truncated
    # empty and None raw values are representable
    dl = build_dead_letter(None, reason="empty", topic="t", partition=0, offset=0, at=T0)
    assert dl.payload == "" and dl.payload_size == 0 and dl.kafka_key() is None


def test_dead_letter_default_cap_keeps_the_record_small() -> None:
    raw = b"a" * (2 * 1024 * 1024)
    dl = build_dead_letter(raw, reason="oversized", topic="t", partition=0, offset=0, at=T0)
    assert dl.payload_truncated and len(encode(dl)) < 300 * 1024
    assert dl.payload_size == len(raw)


def test_dlq_topic_holds_envelopes_too() -> None:
    env = make_envelope(status="dead_lettered", dlq_reason="attempts_exhausted")
    back = decode_dlq_record(encode(env))
    assert isinstance(back, Envelope) and back.dlq_reason == "attempts_exhausted"
    with pytest.raises(DecodeError, match="invalid_json"):
        decode_dlq_record(b"{")


@pytest.mark.parametrize("file_name", sorted(SCHEMAS))
def test_checked_in_schema_is_up_to_date(file_name: str) -> None:
    assert load_schema(file_name) == json.loads(render_schema(file_name)), (
        f"pipeline/schemas/{file_name} is stale: run `python -m pipeline.schemas`"
    )
    assert file_name not in stale_schemas()


def test_published_schema_agrees_with_the_model() -> None:
    schema = load_schema("envelope.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(json.loads(encode(full_envelope())))
    for bad in (_mutated(round=-1), _mutated(question_id=_DROP), _mutated(unexpected=1)):
        assert not validator.is_valid(json.loads(bad))
    event_schema = jsonschema.Draft202012Validator(load_schema("event.schema.json"))
    event_schema.validate(
        json.loads(encode(Event(experiment_id="e", stage="sink", kind="hop", ts=T0)))
    )
    dl = build_dead_letter(b"x", reason="invalid_json", topic="t", partition=0, offset=0, at=T0)
    jsonschema.Draft202012Validator(load_schema("dead_letter.schema.json")).validate(
        json.loads(encode(dl))
    )


def test_stale_schema_is_detected(tmp_path) -> None:
    for name in SCHEMAS:
        (tmp_path / name).write_text(render_schema(name))
    assert stale_schemas(tmp_path) == []
    (tmp_path / "envelope.schema.json").write_text("{}\n")
    assert stale_schemas(tmp_path) == ["envelope.schema.json"]


def test_messages_import_without_kafka_or_openai() -> None:
    code = (
        "import sys; sys.modules['confluent_kafka'] = None; sys.modules['openai'] = None\n"
        "import pipeline.messages, pipeline.topics, pipeline.schemas\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
