"""The shared Kafka plumbing: produce with backpressure, and the one commit path.

The seams are the producer and consumer objects: in-memory fakes stand in for confluent-kafka.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from pipeline_fakes import FakeMessage

from pipeline.events.emitter import NullEmitter
from pipeline.kafka.aio import AsyncProducer, DeliveryFailed
from pipeline.kafka.commit import commit_offsets
from pipeline.kafka.loop import ConsumeLoop
from pipeline.kafka.produce import ProduceQueueFull, produce, produce_async
from pipeline.topics import load_topics
from pipeline.worker.service import WorkerService
from pipeline.worker.settings import WorkerSettings


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FullForAWhile:
    """A producer whose local queue is full for the first ``full`` attempts; ``poll`` advances a
    virtual clock (as serving delivery reports for that long would)."""

    def __init__(self, full: int, clock: FakeClock | None = None) -> None:
        self.full = full
        self.clock = clock or FakeClock()
        self.attempts = 0
        self.polls: list[float] = []
        self.produced: list[tuple[str, dict[str, Any]]] = []

    def produce(self, topic: str, **kwargs: Any) -> None:
        self.attempts += 1
        if self.attempts <= self.full:
            raise BufferError("Local: Queue full")
        self.produced.append((topic, kwargs))

    def poll(self, timeout: float = 0) -> int:
        self.polls.append(timeout)
        self.clock.now += timeout
        return 0


def test_produce_with_room_does_not_poll() -> None:
    producer = FullForAWhile(0)
    produce(producer, "t", b"v", b"k", headers=[("h", b"1")], clock=producer.clock)
    assert producer.produced == [("t", {"value": b"v", "key": b"k", "headers": [("h", b"1")]})]
    assert producer.polls == []


def test_produce_serves_delivery_reports_while_the_queue_is_full() -> None:
    producer = FullForAWhile(3)
    done = []
    produce(producer, "t", b"v", on_delivery=lambda err, msg: done.append(err),
            poll_s=0.05, clock=producer.clock)
    assert producer.attempts == 4 and producer.polls == [0.05, 0.05, 0.05]
    assert producer.produced[0][1]["on_delivery"] is not None


def test_produce_gives_up_after_its_bound() -> None:
    producer = FullForAWhile(10**9)
    with pytest.raises(ProduceQueueFull, match="queue for t still full after 1 s") as info:
        produce(producer, "t", b"v", max_wait_s=1.0, poll_s=0.25, clock=producer.clock)
    assert isinstance(info.value, BufferError)
    assert producer.clock.now == pytest.approx(1.0)


def test_produce_without_wait_fails_at_once() -> None:
    producer = FullForAWhile(1)
    with pytest.raises(ProduceQueueFull):
        produce(producer, "t", b"v", max_wait_s=0, clock=producer.clock)
    assert producer.attempts == 1 and producer.polls == []


def test_produce_async_waits_on_the_event_loop_and_counts_the_waits() -> None:
    producer = FullForAWhile(2)
    waits = asyncio.run(produce_async(producer, "t", b"v", pause_s=0.001))
    assert waits == 2 and producer.polls == [] and len(producer.produced) == 1


def test_async_producer_turns_a_queue_that_stays_full_into_a_delivery_failure() -> None:
    async def main() -> None:
        producer = AsyncProducer(FullForAWhile(10**9), full_queue_wait_s=0.001,  # type: ignore[arg-type]
                                 full_queue_max_wait_s=0.01)
        producer._loop = asyncio.get_running_loop()  # no poll thread: nothing would free room
        with pytest.raises(DeliveryFailed, match="queue for t still full"):
            await producer.send("t", b"v")
        assert producer.queue_full_waits == 0  # counted only for sends that went through

    asyncio.run(main())


@dataclass
class Committed:
    """A partition in a commit's answer (confluent-kafka's TopicPartition.error is read-only)."""

    topic: str
    partition: int
    offset: int
    error: KafkaError | None = None


class CommitConsumer:
    """Answers ``commit`` like confluent-kafka: the partitions, an error set on refused ones."""

    def __init__(self, refuse: dict[tuple[str, int], KafkaError] | None = None,
                 raises: KafkaException | None = None) -> None:
        self.refuse = refuse or {}
        self.raises = raises
        self.calls: list[tuple[list[tuple[str, int, int]], bool]] = []

    def commit(self, offsets: list[TopicPartition], asynchronous: bool = True) -> list[Committed]:
        self.calls.append(([(o.topic, o.partition, o.offset) for o in offsets], asynchronous))
        if self.raises is not None:
            raise self.raises
        return [Committed(o.topic, o.partition, o.offset, self.refuse.get((o.topic, o.partition)))
                for o in offsets]


def test_commit_sends_the_next_offsets_synchronously() -> None:
    consumer = CommitConsumer()
    result = commit_offsets(consumer, {("a", 0): 11, ("a", 1): 5}, stage="s")
    assert consumer.calls == [([("a", 0, 11), ("a", 1, 5)], False)]
    assert result.ok and result.committed == {("a", 0): 11, ("a", 1): 5} and result.failed == {}


def test_nothing_to_commit_makes_no_call() -> None:
    consumer = CommitConsumer()
    assert commit_offsets(consumer, {}, stage="s").ok
    assert consumer.calls == []


def test_a_partition_the_broker_refused_is_reported_and_logged(caplog) -> None:
    refused = KafkaError(KafkaError.UNKNOWN_MEMBER_ID, "member gone")
    consumer = CommitConsumer(refuse={("a", 1): refused})
    with caplog.at_level(logging.WARNING, logger="pipeline.kafka.commit"):
        result = commit_offsets(consumer, {("a", 0): 11, ("a", 1): 5}, stage="storage")
    assert not result.ok
    assert result.committed == {("a", 0): 11} and result.failed == {("a", 1): 5}
    assert result.errors[("a", 1)] == "member gone"
    assert [r.getMessage() for r in caplog.records] == [
        "storage: commit of a[1]@5 failed: member gone"]


def test_a_commit_that_fails_as_a_whole_fails_every_partition(caplog) -> None:
    consumer = CommitConsumer(raises=KafkaException(
        KafkaError(KafkaError.REBALANCE_IN_PROGRESS, "rebalancing")))
    with caplog.at_level(logging.WARNING, logger="pipeline.kafka.commit"):
        result = commit_offsets(consumer, {("a", 0): 11, ("b", 2): 3}, stage="relay")
    assert result.failed == {("a", 0): 11, ("b", 2): 3} and result.committed == {}
    assert "relay: commit of a[0]@11, b[2]@3 failed: rebalancing" in caplog.text


class RefusingLoopConsumer(CommitConsumer):
    """Serves one batch to a ConsumeLoop, then refuses the commit of one partition."""

    def __init__(self, batch: list[Any], refuse: dict[tuple[str, int], KafkaError]) -> None:
        super().__init__(refuse=refuse)
        self.batch = batch

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        batch, self.batch = self.batch, []
        return batch


def test_the_consume_loop_commits_next_offsets_and_counts_a_refused_partition() -> None:
    consumer = RefusingLoopConsumer(
        [FakeMessage("r", 0, 10, b"x"), FakeMessage("r", 0, 11, b"y"), FakeMessage("r", 1, 4, b"z")],
        refuse={("r", 1): KafkaError(KafkaError.ILLEGAL_GENERATION, "generation changed")})
    loop = ConsumeLoop(consumer, ["r"], lambda m: m.value(), lambda batch: None,  # type: ignore[arg-type]
                       stage="test")
    assert loop.run_once() == 3
    assert consumer.calls == [([("r", 0, 12), ("r", 1, 5)], False)]
    assert loop.heartbeat.counters["commit_failures"] == 1


def test_the_worker_offers_a_refused_partition_again_at_the_next_commit() -> None:
    consumer = CommitConsumer(refuse={("q", 1): KafkaError(KafkaError.ILLEGAL_GENERATION, "gen")})
    worker = WorkerService(consumer, None, None, load_topics(), NullEmitter(),  # type: ignore[arg-type]
                           settings=WorkerSettings())
    worker.tracker.assign([("q", 0), ("q", 1)])
    for partition, offset in (("q", 0), 7), (("q", 1), 3):
        worker.tracker.complete(worker.tracker.start(*partition, offset))
    asyncio.run(worker.commit())
    consumer.refuse = {}
    asyncio.run(worker.commit())
    assert consumer.calls == [([("q", 0, 8), ("q", 1, 4)], False), ([("q", 1, 4)], False)]
    assert worker.heartbeat.counters["commits"] == 2
