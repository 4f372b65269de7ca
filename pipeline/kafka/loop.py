"""The batch consume loop of the synchronous services (storage, event sink):
consume -> decode -> handle -> make outputs durable -> commit.

* Every record is decoded with the service's decoder; one that fails becomes a
  :class:`~pipeline.messages.DeadLetter` (topic, partition, offset, reason, raw bytes) handed to
  the handler next to the good records, and the loop goes on.
* The handler makes the batch's outputs durable (a database commit, or produced records
  acknowledged) before it returns; only then are the offsets committed. A handler failure is
  retried with backoff on the same batch, then re-raised (the supervisor restarts the service,
  which re-reads from the last commit: at-least-once, made exact by idempotent writes).
* Latency first by default: a batch is what has arrived (:func:`~pipeline.kafka.fetch.consume_ready`);
  ``fill_batches`` waits up to the poll timeout for a full batch instead (fewer, larger
  transactions where latency does not matter: the event sink).
* Partitions lost and no assignment back within a deadline (:mod:`pipeline.kafka.membership`)
  end the loop with an error: the supervisor restarts the service with a fresh client.
* A stop request (SIGTERM) lets the current batch finish and commit before the consumer closes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from pipeline.kafka.commit import commit_offsets
from pipeline.kafka.fetch import consume_ready
from pipeline.kafka.health import Heartbeat
from pipeline.kafka.membership import GroupRejoinTimeout, Membership
from pipeline.kafka.produce import produce
from pipeline.kafka.records import Coordinates, Decoded, check_message_error, dead_letter_for
from pipeline.messages import DeadLetter, DecodeError, encode

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Batch(Generic[T]):
    records: list[Decoded[T]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    dead_coords: list[Coordinates] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records) + len(self.dead_letters)

    def span(self) -> str:
        """The batch's coordinates per partition, for error logs: ``t[0]@10-42, t[1]@7-9``."""
        ranges: dict[tuple[str, int], list[int]] = {}
        for c in [r.coords for r in self.records] + self.dead_coords:
            ranges.setdefault((c.topic, c.partition), []).append(c.offset)
        return ", ".join(f"{t}[{p}]@{min(o)}-{max(o)}" for (t, p), o in sorted(ranges.items()))


BatchHandler = Callable[[Batch[T]], None]
"""Processes a batch and makes every output durable before returning."""
Decoder = Callable[[Message], T]


class DeliveryError(RuntimeError):
    """A produced record was not acknowledged."""


class DlqPublisher:
    """Produces dead letters to qa.dlq and waits until every one is acknowledged."""

    def __init__(self, producer: Producer, topic: str, *, flush_timeout_s: float = 30.0) -> None:
        self.producer = producer
        self.topic = topic
        self.flush_timeout_s = flush_timeout_s

    def publish(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        errors: list[str] = []

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                errors.append(f"{msg.topic()}: {err.str()}")

        for letter in letters:
            produce(self.producer, self.topic, encode(letter), letter.kafka_key(),
                    on_delivery=on_delivery)
        remaining = self.producer.flush(self.flush_timeout_s)
        if remaining or errors:
            raise DeliveryError(
                f"{len(errors)} dead letter(s) failed, {remaining} unacknowledged: {errors[:3]}"
            )


class ConsumeLoop(Generic[T]):
    """Consume ``topics`` in batches; see the module docstring for the guarantees."""

    def __init__(
        self,
        consumer: Consumer,
        topics: Sequence[str],
        decoder: Decoder[T],
        handler: BatchHandler[T],
        *,
        stage: str,
        stop: threading.Event | None = None,
        batch_size: int = 500,
        poll_timeout_s: float = 0.5,
        fill_batches: bool = False,
        heartbeat: Heartbeat | None = None,
        max_handler_attempts: int = 6,
        retry_backoff_s: float = 0.5,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.consumer = consumer
        self.topics = list(topics)
        self.decoder = decoder
        self.handler = handler
        self.stage = stage
        self.stop = stop or threading.Event()
        self.batch_size = batch_size
        self.poll_timeout_s = poll_timeout_s
        self.fill_batches = fill_batches
        self.heartbeat = heartbeat or Heartbeat(stage)
        self.max_handler_attempts = max_handler_attempts
        self.retry_backoff_s = retry_backoff_s
        self.clock = clock
        self.sleep = sleep
        self.membership = Membership(stage)

    # -- lifecycle ----------------------------------------------------------------------------
    def subscribe(self) -> None:
        self.consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_lost)

    def run(self) -> None:
        """Until ``stop`` is set; the consumer is closed on the way out, except after a
        :class:`GroupRejoinTimeout` (closing a client stuck outside its group may block: the
        process exits instead, and its sockets close with it)."""
        self.subscribe()
        log.info("%s consuming %s", self.stage, ", ".join(self.topics))
        stuck = False
        try:
            while not self.stop.is_set():
                self.run_once()
        except GroupRejoinTimeout as exc:
            stuck = True
            log.error("%s", exc)
            raise
        finally:
            if not stuck:
                self.consumer.close()
            log.info("%s stopped (counters %s)", self.stage, self.heartbeat.counters)

    def run_once(self) -> int:
        """Consume, handle and commit one batch; returns the number of records in it."""
        self.membership.check()
        if self.fill_batches:  # throughput over latency: wait up to the timeout for a full batch
            messages = self.consumer.consume(self.batch_size, self.poll_timeout_s)
        else:
            messages = consume_ready(self.consumer, self.batch_size, self.poll_timeout_s)
        self.heartbeat.beat()
        if not messages:
            return 0
        batch: Batch[T] = Batch()
        next_offsets: dict[tuple[str, int], int] = {}
        for msg in messages:
            if check_message_error(msg, stage=self.stage):
                continue
            coords = Coordinates.of(msg)
            next_offsets[(coords.topic, coords.partition)] = coords.offset + 1
            raw = msg.value()
            try:
                batch.records.append(Decoded(self.decoder(msg), coords, raw or b""))
            except DecodeError as exc:
                log.warning("%s: undecodable record at %s: %s -> dead letter", self.stage, coords, exc)
                batch.dead_letters.append(dead_letter_for(raw, exc, coords, stage=self.stage,
                                                          clock=self.clock))
                batch.dead_coords.append(coords)
        if len(batch):
            self._handle(batch)
            self.heartbeat.count("records", len(batch.records))
            self.heartbeat.count("dead_letters", len(batch.dead_letters))
        if not commit_offsets(self.consumer, next_offsets, stage=self.stage).ok:
            # Typically a rebalance took the partition away: its new owner re-reads the batch and
            # the idempotent writes absorb the duplicates.
            self.heartbeat.count("commit_failures")
        return len(batch)

    # -- internals ----------------------------------------------------------------------------
    def _handle(self, batch: Batch[T]) -> None:
        for attempt in range(1, self.max_handler_attempts + 1):
            try:
                self.handler(batch)
                return
            except Exception:
                if attempt == self.max_handler_attempts:
                    log.exception("%s: batch %s failed %d times; giving up (offsets not committed)",
                                  self.stage, batch.span(), attempt)
                    raise
                delay = self.retry_backoff_s * 2 ** (attempt - 1)
                log.exception("%s: batch %s failed (attempt %d); retrying in %.1fs",
                              self.stage, batch.span(), attempt, delay)
                self.heartbeat.count("handler_retries")
                self.sleep(delay)
                self.heartbeat.beat()

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.membership.assigned()
        log.info("%s assigned %s", self.stage, _names(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("%s revoked %s", self.stage, _names(partitions))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.membership.lost()
        log.warning("%s lost %s", self.stage, _names(partitions))


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing"
