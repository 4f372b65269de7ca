"""The batch consume loop: decode, dead-letter poison with coordinates, commit after the handler."""

from __future__ import annotations

import threading

import pytest
from pipeline_fakes import FakeConsumer, FakeMessage, FakeProducer

from pipeline.kafka.loop import Batch, ConsumeLoop, DeliveryError, DlqPublisher
from pipeline.messages import Envelope, decode, decode_dlq_record, encode


def _env(qid: str) -> bytes:
    return encode(Envelope(experiment_id="e", question_id=qid, question={"title": "t"},
                           intended_at=1.0, created_at=1.0))


class Handler:
    def __init__(self, fail_times: int = 0) -> None:
        self.batches: list[Batch[Envelope]] = []
        self.fail_times = fail_times

    def __call__(self, batch: Batch[Envelope]) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("database went away")
        self.batches.append(batch)


def _loop(consumer: FakeConsumer, handler: Handler, **kw) -> ConsumeLoop[Envelope]:
    return ConsumeLoop(consumer, ["qa.results"], lambda m: decode(m.value()), handler,
                       stage="test", sleep=lambda s: None, **kw)


def test_poison_becomes_a_dead_letter_and_offsets_commit_after_the_handler() -> None:
    consumer = FakeConsumer(batches=[[
        FakeMessage("qa.results", 0, 10, _env("a")),
        FakeMessage("qa.results", 0, 11, b"{not json", b"k1"),
        FakeMessage("qa.results", 1, 4, _env("b")),
    ]])
    handler = Handler()
    assert _loop(consumer, handler).run_once() == 3
    (batch,) = handler.batches
    assert [r.value.question_id for r in batch.records] == ["a", "b"]
    (letter,) = batch.dead_letters
    assert letter.reason == "invalid_json" and letter.stage == "test"
    assert (letter.source.topic, letter.source.partition, letter.source.offset) == ("qa.results", 0, 11)
    assert letter.source.key == "k1" and letter.raw_bytes() == b"{not json"
    assert sorted(consumer.commits[0]) == [("qa.results", 0, 12), ("qa.results", 1, 5)]


def test_failed_handler_is_retried_then_raises_without_commit() -> None:
    consumer = FakeConsumer(batches=[[FakeMessage("qa.results", 0, 0, _env("a"))]])
    handler = Handler(fail_times=1)
    _loop(consumer, handler).run_once()
    assert len(handler.batches) == 1 and consumer.commits == [[("qa.results", 0, 1)]]

    consumer = FakeConsumer(batches=[[FakeMessage("qa.results", 0, 0, _env("a"))]])
    with pytest.raises(ConnectionError):
        _loop(consumer, Handler(fail_times=5), max_handler_attempts=3).run_once()
    assert consumer.commits == []


def test_stop_finishes_the_batch_and_closes() -> None:
    stop = threading.Event()
    consumer = FakeConsumer(batches=[[FakeMessage("qa.results", 0, 0, _env("a"))]])

    class StopAfter(Handler):
        def __call__(self, batch: Batch[Envelope]) -> None:
            super().__call__(batch)
            stop.set()

    handler = StopAfter()
    _loop(consumer, handler, stop=stop).run()
    assert len(handler.batches) == 1 and consumer.commits and consumer.closed


def test_dlq_publisher_waits_for_acknowledgements() -> None:
    consumer = FakeConsumer(batches=[[FakeMessage("qa.events", 2, 7, b"\xff\x01")]])
    handler = Handler()
    _loop(consumer, handler).run_once()
    producer = FakeProducer()
    DlqPublisher(producer, "qa.dlq").publish(handler.batches[0].dead_letters)
    (topic, value, _), = producer.produced
    assert topic == "qa.dlq"
    letter = decode_dlq_record(value)
    assert letter.reason == "invalid_encoding" and letter.payload_encoding == "base64"
    with pytest.raises(DeliveryError):
        DlqPublisher(FakeProducer(fail=True), "qa.dlq").publish(handler.batches[0].dead_letters)
