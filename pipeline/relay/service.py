"""The retry relay: consumes every qa.retry.<tier> topic and re-publishes each record to
qa.questions once its ``due_at`` has passed.

No partition waits for another and nothing spins: when a partition's head record is not due, the
partition is paused and its fetched records are held in memory, in order
(:class:`~pipeline.relay.schedule.DueSchedule` remembers when the head is due); the other
partitions keep being consumed, and ``consume`` blocks at most until the earliest parked head is
due. Then the held records are released (until one is not due yet) and the partition resumed.
Holding instead of rewinding (seek) keeps the consumer's position exact: paused partitions are
not fetched, and held records were never committed, so a crash or a revocation loses nothing.
Offsets are committed after the re-published records (and any dead letters) are acknowledged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from pipeline.events import hops as H
from pipeline.events.emitter import EventEmitter
from pipeline.kafka.clients import make_consumer, make_producer, scoped_group_id
from pipeline.kafka.commit import commit_offsets
from pipeline.kafka.fetch import consume_ready
from pipeline.kafka.health import HealthServer, Heartbeat
from pipeline.kafka.loop import DeliveryError
from pipeline.kafka.membership import GroupRejoinTimeout, Membership
from pipeline.kafka.produce import produce
from pipeline.kafka.records import Coordinates, check_message_error, dead_letter_for
from pipeline.kafka.settings import KafkaSettings
from pipeline.messages import DecodeError, Envelope, decode, encode
from pipeline.relay.schedule import DueSchedule
from pipeline.relay.settings import RelaySettings
from pipeline.topics import TopicCatalog, load_topics

log = logging.getLogger(__name__)


@dataclass
class _Round:
    """What one ``run_once`` produced: offsets to commit, records released, delivery errors."""

    commits: dict[tuple[str, int], int] = field(default_factory=dict)
    released: list[tuple[Envelope, str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.errors.append(f"{msg.topic()}: {err.str()}")


class Relay:
    def __init__(
        self, consumer: Consumer, producer: Producer, topics: TopicCatalog, emitter: EventEmitter,
        *, settings: RelaySettings, stop: threading.Event | None = None,
        heartbeat: Heartbeat | None = None, clock: Callable[[], float] = time.time,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.topics = topics
        self.emitter = emitter
        self.settings = settings
        self.stop = stop or threading.Event()
        self.heartbeat = heartbeat or Heartbeat("relay")
        self.clock = clock
        self.schedule = DueSchedule()
        self.membership = Membership("relay")
        self._held: dict[tuple[str, int], deque[Message]] = {}
        self.assigned: set[tuple[str, int]] = set()
        self._tier_by_topic = {t.topic.name: t.tier for t in topics.retry_tiers}

    # -- lifecycle ----------------------------------------------------------------------------
    def subscribe(self) -> None:
        self.consumer.subscribe(self.topics.retry_topic_names(), on_assign=self._on_assign,
                                on_revoke=self._on_revoke, on_lost=self._on_lost)

    def run(self) -> None:
        self.subscribe()
        log.info("relay consuming %s", ", ".join(self.topics.retry_topic_names()))
        stuck = False
        try:
            while not self.stop.is_set():
                self.run_once()
        except GroupRejoinTimeout as exc:  # leave the stuck client: the process exits
            stuck = True
            log.error("%s", exc)
            raise
        finally:
            if not stuck:
                self.consumer.close()
            log.info("relay stopped (counters %s)", self.heartbeat.counters)

    # -- one round ----------------------------------------------------------------------------
    def run_once(self) -> int:
        """Release what became due, consume one batch, release or park it; returns the number
        of records released (re-published to qa.questions)."""
        self.membership.check()
        rnd = _Round()
        for parked in self.schedule.due(self.clock()):
            key = (parked.topic, parked.partition)
            held = self._held.pop(key, deque())
            self._drain(key, held, rnd)
            if key not in self.schedule:
                self.consumer.resume([TopicPartition(parked.topic, parked.partition)])
        timeout = 0.0 if rnd.commits else self.schedule.wait_s(self.clock(), self.settings.max_wait_s)
        messages = consume_ready(self.consumer, self.settings.batch_size, timeout)
        self.heartbeat.beat()
        self.heartbeat.count("polls")
        by_partition: dict[tuple[str, int], deque[Message]] = {}
        for msg in messages:
            if check_message_error(msg, stage="relay"):
                continue
            coords = Coordinates.of(msg)
            by_partition.setdefault((coords.topic, coords.partition), deque()).append(msg)
        for key, queue in by_partition.items():
            if key in self.schedule:  # delivered before the pause took effect: keep the order
                self._held.setdefault(key, deque()).extend(queue)
            else:
                self._drain(key, queue, rnd)
        return self._finish(rnd)

    def _drain(self, key: tuple[str, int], queue: deque[Message], rnd: _Round) -> None:
        """Release the partition's records in order until one is not due: park it and hold the
        rest (the partition stays paused until then)."""
        now = self.clock()
        while queue:
            msg = queue[0]
            coords = Coordinates.of(msg)
            try:
                env = decode(msg.value())
            except DecodeError as exc:
                log.warning("relay: undecodable record at %s: %s -> dead letter", coords, exc)
                letter = dead_letter_for(msg.value(), exc, coords, stage="relay", clock=self.clock)
                self._produce(self.topics.dlq.name, encode(letter), letter.kafka_key(), rnd)
                self.heartbeat.count("dead_letters")
            else:
                due_at = env.due_at or 0.0
                if due_at > now:
                    if key not in self.schedule:
                        self.consumer.pause([TopicPartition(*key)])
                    self.schedule.park(key[0], key[1], coords.offset, due_at)
                    self._held[key] = queue
                    log.debug("parked %s until %.3f (%d held)", coords, due_at, len(queue))
                    return
                env.due_at = None
                env.record_hop(H.RELAY_RELEASED, now)
                self._produce(self.topics.questions.name, encode(env), env.kafka_key(), rnd)
                rnd.released.append((env, self._tier_by_topic.get(key[0], key[0]), due_at))
            queue.popleft()
            rnd.commits[key] = coords.offset + 1

    def _finish(self, rnd: _Round) -> int:
        """Wait for the acknowledgements, then commit; then the events."""
        if rnd.commits:
            left = self.producer.flush(30.0)
            if left or rnd.errors:
                raise DeliveryError(f"relay: {len(rnd.errors)} record(s) failed, {left} "
                                    f"unacknowledged: {rnd.errors[:3]}")
            self._commit(rnd.commits)
        now = self.clock()
        for env, tier, due_at in rnd.released:
            deferred_at = env.hop_time(H.WORKER_DEFERRED, env.round)
            self.emitter.hop(env, H.RELAY_RELEASED, ts=now, tier=tier,
                             waited_s=None if deferred_at is None else now - deferred_at,
                             release_lag_s=max(0.0, now - due_at))
        self.heartbeat.count("released", len(rnd.released))
        return len(rnd.released)

    # -- helpers ------------------------------------------------------------------------------
    def _produce(self, topic: str, value: bytes, key: bytes | None, rnd: _Round) -> None:
        produce(self.producer, topic, value, key, on_delivery=rnd.on_delivery)

    def _commit(self, commits: dict[tuple[str, int], int]) -> None:
        if not commit_offsets(self.consumer, commits, stage="relay").ok:
            self.heartbeat.count("commit_failures")

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.membership.assigned()
        self.assigned.update((p.topic, p.partition) for p in partitions)
        log.info("relay assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.membership.lost()
        self._on_revoke(consumer, partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [(p.topic, p.partition) for p in partitions]
        self.assigned.difference_update(keys)
        dropped = self.schedule.drop(keys)
        for key in keys:
            self._held.pop(key, None)  # not committed: the new owner re-reads them
        log.info("relay revoked %s (%d parked)",
                 ", ".join(f"{p.topic}[{p.partition}]" for p in partitions), len(dropped))


def run_relay(stop: threading.Event, *, kafka: KafkaSettings | None = None,
              settings: RelaySettings | None = None, topics: TopicCatalog | None = None,
              health_port: int | None = None) -> None:
    """Run until ``stop`` is set (the ``harness relay`` command)."""
    kafka = kafka or KafkaSettings()
    settings = settings or RelaySettings()
    topics = topics or load_topics()
    heartbeat = Heartbeat("relay")
    port = settings.health_port if health_port is None else health_port
    emitter = EventEmitter.create(kafka, topics.events.name, stage="relay")
    consumer = make_consumer(kafka, scoped_group_id(settings.group_id, topics.prefix), "relay")
    producer = make_producer(kafka, "relay")
    try:
        with HealthServer(heartbeat, host=settings.health_host, port=port):
            Relay(consumer, producer, topics, emitter, settings=settings, stop=stop,
                  heartbeat=heartbeat).run()
    finally:
        producer.flush(10.0)
        emitter.close()
