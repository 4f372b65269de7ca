"""The relay's loop with fake Kafka clients and a fake clock: a parked partition is paused with its
records held in order, the others flow, and it is released and resumed when its head is due."""

from __future__ import annotations

import pytest
from pipeline_fakes import FakeConsumer, FakeMessage, FakeProducer

from pipeline.events.emitter import RecordingEmitter
from pipeline.messages import Envelope, decode, decode_dlq_record, encode
from pipeline.relay.service import Relay
from pipeline.relay.settings import RelaySettings
from pipeline.retry.clock import FakeClock
from pipeline.topics import load_topics

TOPICS = load_topics(prefix="")
TIER = "qa.retry.5s"


def _rec(partition: int, offset: int, qid: str, due_at: float | None) -> FakeMessage:
    env = Envelope(experiment_id="e", question_id=qid, question={"title": "t"}, intended_at=1.0,
                   created_at=1.0, due_at=due_at)
    return FakeMessage(TIER, partition, offset, encode(env), qid.encode())


def test_parks_the_late_partition_and_releases_the_rest() -> None:
    clock = FakeClock(100.0)
    consumer = FakeConsumer(batches=[[
        _rec(0, 5, "late", due_at=103.0),
        _rec(1, 3, "ready", due_at=99.0),
        _rec(0, 6, "behind", due_at=100.0),  # behind the parked head: re-read later
        FakeMessage(TIER, 1, 4, b"garbage"),
    ]])
    producer = FakeProducer()
    emitter = RecordingEmitter(stage="relay", clock=clock)
    relay = Relay(consumer, producer, TOPICS, emitter, settings=RelaySettings(max_wait_s=1.0),
                  clock=clock)

    assert relay.run_once() == 1
    released = [(t, decode(v).question_id) for t, v, _ in producer.produced if t == "qa.questions"]
    assert released == [("qa.questions", "ready")]
    (dlq,) = [v for t, v, _ in producer.produced if t == "qa.dlq"]
    assert decode_dlq_record(dlq).source.offset == 4
    assert consumer.paused == [(TIER, 0)] and consumer.seeks == []
    assert consumer.commits == [[(TIER, 1, 5)]]  # nothing of partition 0 is committed
    env = decode(producer.produced[0][1])
    assert env.due_at is None and env.hops[-1].name == "relay.released"
    assert emitter.events[0].attrs["tier"] == "5s"

    # Nothing is due yet: consume blocks until the head's due time, not a busy loop.
    clock.advance(1.0)
    assert relay.run_once() == 0
    assert consumer.timeouts[-1] == pytest.approx(1.0)  # min(max_wait 1.0, 2.0 s left)
    clock.advance(1.5)
    relay.run_once()
    assert consumer.timeouts[-1] == pytest.approx(0.501)

    # Due: the held records are released in order and the partition is resumed.
    clock.advance(0.5)
    assert relay.run_once() == 2
    assert consumer.resumed == [(TIER, 0)]
    assert consumer.commits[-1] == [(TIER, 0, 7)]
    order = [decode(v).question_id for t, v, _ in producer.produced if t == "qa.questions"]
    assert order == ["ready", "late", "behind"]
    assert len(relay.schedule) == 0


def test_a_held_record_not_yet_due_parks_the_partition_again() -> None:
    clock = FakeClock(100.0)
    consumer = FakeConsumer(batches=[[_rec(0, 0, "a", due_at=101.0), _rec(0, 1, "b", due_at=105.0),
                                      _rec(0, 2, "c", due_at=100.0)]])
    producer = FakeProducer()
    relay = Relay(consumer, producer, TOPICS, RecordingEmitter(), settings=RelaySettings(),
                  clock=clock)
    assert relay.run_once() == 0
    clock.advance(1.0)
    assert relay.run_once() == 1  # "a" is due, "b" is not: parked again, still paused
    assert consumer.resumed == [] and consumer.commits[-1] == [(TIER, 0, 1)]
    clock.advance(4.0)
    assert relay.run_once() == 2
    assert consumer.resumed == [(TIER, 0)] and consumer.commits[-1] == [(TIER, 0, 3)]


def test_failed_delivery_is_not_committed() -> None:
    consumer = FakeConsumer(batches=[[_rec(0, 0, "a", due_at=None)]])
    relay = Relay(consumer, FakeProducer(fail=True), TOPICS, RecordingEmitter(),
                  settings=RelaySettings(), clock=FakeClock(100.0))
    with pytest.raises(RuntimeError):
        relay.run_once()
    assert consumer.commits == []
