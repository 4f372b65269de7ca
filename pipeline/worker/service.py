"""The worker process: an asyncio loop that keeps hundreds of records in progress.

* The consumer lives on one thread (:func:`~pipeline.kafka.aio.consumer_executor`); every call on
  it (consume, commit, pause, resume, close) and its rebalance callbacks run there.
* Each record becomes a task: decode (undecodable -> qa.dlq), :class:`RecordProcessor`, then
  the outcome is produced and its acknowledgement awaited. Only then is the record complete.
* Records finish out of order; :class:`~pipeline.kafka.offsets.OffsetTracker` commits only up
  to the lowest record still in progress, every ``commit_interval_s`` and on revocation.
* At ``pending_limit`` records in progress the assigned partitions are paused (the consumer
  still polls, so the group membership stays alive) and resumed when there is room.
* Stop (SIGTERM): stop taking records, let the in-progress ones finish (up to
  ``drain_timeout_s``), commit, close. A delivery failure or an unexpected error stops the
  worker with an error: it restarts from the last commit and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from pipeline.events import hops as H
from pipeline.events.emitter import EventEmitter
from pipeline.kafka.aio import AsyncProducer, DeliveryFailed, consumer_executor
from pipeline.kafka.commit import commit_offsets
from pipeline.kafka.fetch import consume_ready
from pipeline.kafka.health import Heartbeat
from pipeline.kafka.membership import GroupRejoinTimeout, Membership
from pipeline.kafka.offsets import OffsetTracker, Ticket
from pipeline.kafka.records import Coordinates, check_message_error, dead_letter_for
from pipeline.messages import DecodeError, Envelope, EventKind, decode, encode
from pipeline.topics import TopicCatalog
from pipeline.worker.processor import Outcome, RecordProcessor
from pipeline.worker.routing import Action
from pipeline.worker.settings import WorkerSettings

log = logging.getLogger(__name__)


class WorkerFailed(RuntimeError):
    """The worker stopped because an output could not be delivered or a task crashed."""


class WorkerService:
    def __init__(
        self,
        consumer: Consumer,
        producer: AsyncProducer,
        processor: RecordProcessor,
        topics: TopicCatalog,
        emitter: EventEmitter,
        *,
        settings: WorkerSettings,
        heartbeat: Heartbeat | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.processor = processor
        self.topics = topics
        self.emitter = emitter
        self.settings = settings
        self.heartbeat = heartbeat or Heartbeat("worker")
        self.clock = clock
        self.tracker = OffsetTracker()
        self.membership = Membership("worker")
        self.tasks: set[asyncio.Task[None]] = set()
        self.failure: BaseException | None = None
        self._executor = consumer_executor("kafka-consumer")
        self._paused = False
        self._room = asyncio.Event()

    # -- consumer thread ----------------------------------------------------------------------
    async def _kafka(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.membership.assigned()
        self.tracker.assign([(p.topic, p.partition) for p in partitions])
        log.info("worker assigned %s", _names(partitions))
        if self._paused and partitions:
            consumer.pause(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [(p.topic, p.partition) for p in partitions]
        if not self.tracker.wait_idle(keys, self.settings.revoke_drain_timeout_s):
            log.warning("records of revoked %s still in progress after %.0fs: their new owner "
                        "will process them again", _names(partitions),
                        self.settings.revoke_drain_timeout_s)
        final = self.tracker.revoke(keys)
        log.info("worker revoked %s; committing %s", _names(partitions), final or "nothing")
        commit_offsets(consumer, final, stage="worker")

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.membership.lost()
        self.tracker.revoke([(p.topic, p.partition) for p in partitions])
        log.warning("worker lost %s (no commit possible)", _names(partitions))

    # -- main loop ----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        await self._kafka(self.consumer.subscribe, [self.topics.questions.name],
                          on_assign=self._on_assign, on_revoke=self._on_revoke,
                          on_lost=self._on_lost)
        log.info("worker consuming %s (concurrency %d, up to %d in progress)",
                 self.topics.questions.name, self.settings.concurrency, self.settings.pending_limit)
        last_commit = time.monotonic()
        stuck = False
        try:
            while not stop.is_set() and self.failure is None:
                self.membership.check()
                await self._flow_control()
                free = self.settings.pending_limit - len(self.tasks)
                batch = max(1, min(self.settings.consume_batch, free))
                messages = await self._kafka(consume_ready, self.consumer, batch,
                                             self.settings.poll_timeout_s)
                for msg in messages:
                    self._start(msg)
                if time.monotonic() - last_commit >= self.settings.commit_interval_s:
                    await self.commit()
                    last_commit = time.monotonic()
                self.heartbeat.beat()
                if free <= 0:
                    self._room.clear()
                    await self._wait_room(self.settings.poll_timeout_s)
            await self._drain()
        except GroupRejoinTimeout as exc:  # leave the stuck client: the process exits
            stuck = True
            log.error("%s", exc)
            raise
        finally:
            if not stuck:
                await self._kafka(self.consumer.close)
            self._executor.shutdown(wait=not stuck)
            await self.producer.close()
            self.emitter.close()
            log.info("worker stopped (counters %s)", self.heartbeat.counters)
        if self.failure is not None:
            raise WorkerFailed(str(self.failure)) from self.failure

    async def _wait_room(self, timeout_s: float) -> None:
        # Poll again after the timeout anyway: the consumer must keep polling to stay in its group.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._room.wait(), timeout_s)

    async def _flow_control(self) -> None:
        full = len(self.tasks) >= self.settings.pending_limit
        if full and not self._paused:
            self._paused = True
            await self._kafka(lambda: self.consumer.pause(self.consumer.assignment()))
            self.heartbeat.count("paused")
        elif not full and self._paused:
            self._paused = False
            await self._kafka(lambda: self.consumer.resume(self.consumer.assignment()))

    async def _drain(self) -> None:
        if self.tasks:
            log.info("draining %d record(s) in progress (up to %.0fs)", len(self.tasks),
                     self.settings.drain_timeout_s)
            await self._kafka(lambda: self.consumer.pause(self.consumer.assignment()))
            _, pending = await asyncio.wait(self.tasks, timeout=self.settings.drain_timeout_s)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("%d record(s) still in progress after the drain timeout; they will "
                            "be redelivered", len(pending))
                await asyncio.gather(*pending, return_exceptions=True)
        await self.commit()

    async def commit(self) -> None:
        commits = self.tracker.take_commits()
        if not commits:
            return
        result = await self._kafka(commit_offsets, self.consumer, commits, stage="worker")
        if result.committed:
            self.heartbeat.count("commits")
        self.tracker.commit_failed(result.failed)

    # -- one record ---------------------------------------------------------------------------
    def _start(self, msg: Message) -> None:
        try:
            if check_message_error(msg, stage="worker"):
                return
        except KafkaException as exc:
            self.failure = exc
            return
        coords = Coordinates.of(msg)
        ticket = self.tracker.start(coords.topic, coords.partition, coords.offset)
        task = asyncio.create_task(self._handle(coords, msg.value(), ticket))
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self._room.set()

    async def _handle(self, coords: Coordinates, raw: bytes | None, ticket: Ticket) -> None:
        try:
            await self._visit(coords, raw)
        except asyncio.CancelledError:
            raise
        except DeliveryFailed as exc:
            log.error("output of %s not delivered: %s; stopping the worker", coords, exc)
            self.failure = exc
            return
        except Exception as exc:
            log.exception("unexpected error on %s; dead-lettering it", coords)
            try:
                letter = dead_letter_for(raw, f"worker_error: {type(exc).__name__}", coords,
                                         stage="worker", clock=self.clock)
                await self.producer.send(self.topics.dlq.name, encode(letter), letter.kafka_key())
            except DeliveryFailed as dexc:
                self.failure = dexc
                return
        self.tracker.complete(ticket)

    async def _visit(self, coords: Coordinates, raw: bytes | None) -> None:
        try:
            env = decode(raw)
        except DecodeError as exc:
            log.warning("undecodable record at %s: %s -> dead letter", coords, exc)
            letter = dead_letter_for(raw, exc, coords, stage="worker", clock=self.clock)
            await self.producer.send(self.topics.dlq.name, encode(letter), letter.kafka_key())
            self.heartbeat.count("poison")
            return
        received = self.clock()
        env.record_hop(H.WORKER_RECEIVED, received)
        self.emitter.hop(env, H.WORKER_RECEIVED, ts=received, partition=coords.partition,
                         offset=coords.offset)
        outcome = await self.processor.process(env)
        await self.producer.send(outcome.topic, encode(outcome.envelope), env.kafka_key())
        self._after(outcome)

    def _after(self, outcome: Outcome) -> None:
        env, now = outcome.envelope, self.clock()
        self.heartbeat.count(outcome.action.value)
        if outcome.action is Action.ANSWER:
            self.emitter.hop(env, H.WORKER_ANSWERED, ts=env.hop_time(H.WORKER_ANSWERED) or now,
                             acked_at=now)
        elif outcome.action is Action.DEFER:
            route = outcome.route
            assert route is not None
            self.emitter.about(env, EventKind.RETRY_DEFERRED, ts=now, tier=route.tier,
                               due_at=env.due_at, delay_s=route.delay_s,
                               error_class=_last_error(env))
            self.emitter.hop(env, H.WORKER_DEFERRED, ts=now, tier=route.tier)
        else:
            self.emitter.about(env, EventKind.DEAD_LETTER, ts=now, reason=env.dlq_reason)
            self.emitter.hop(env, H.DEAD_LETTERED, ts=now)


def _last_error(env: Envelope) -> str | None:
    for a in reversed(env.attempts):
        if a.error_class is not None:
            return a.error_class.value
    return None


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing"
