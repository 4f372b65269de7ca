"""``run_load``: drive one experiment's traffic into the pipeline.

For each arrival of the arrival process (paced on the intended schedule, see
:mod:`pipeline.generator.pacing`) a question is selected (fresh, or a repeat with probability
``repeat_share``), the storage cache is checked (:class:`~pipeline.storage.cache.AnswerCache`):

* hit -> the stored answer serves it, its access count goes up, a ``cache_hit`` event is emitted
  and nothing goes to Kafka;
* coalesced (asked again while in flight, or dead-lettered) -> counted, a ``cache_coalesced``
  event, nothing to Kafka;
* miss -> an Envelope stamped with ``intended_at`` goes to qa.questions; its acknowledgement emits
  the ``generator.sent`` hop event.

The database may restart under a load: a check that loses its connection is retried on a fresh
one for up to ``GeneratorSettings.db_retry_s``, and past that the ask is sent as a miss and
counted in ``cache_unavailable`` (:mod:`pipeline.generator.cache_guard`). A check that waits
makes the sends after it late, never moves their intended times. Kafka outages are the
producer's: librdkafka retries a send until ``message.timeout.ms``
(:func:`pipeline.kafka.clients.producer_config`), and a send that finally fails is counted in
``failed``.

Progress is logged every few seconds; the summary is returned (and is JSON-able).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from pipeline.arrivals import ArrivalProcess, QuestionSelector, build_arrival
from pipeline.datasets.model import Question
from pipeline.events import hops as H
from pipeline.events.emitter import EventEmitter
from pipeline.generator.cache_guard import CacheLike, GuardedCache
from pipeline.generator.pacing import Pacer, serving_sleep
from pipeline.generator.settings import GeneratorSettings
from pipeline.kafka.clients import make_producer
from pipeline.kafka.produce import produce
from pipeline.kafka.settings import KafkaSettings
from pipeline.messages import Envelope, Event, EventKind, ExperimentPolicy, encode
from pipeline.storage.cache import AnswerCache, CacheOutcome
from pipeline.storage.db import Database
from pipeline.storage.settings import DatabaseSettings
from pipeline.topics import TopicCatalog, load_topics

log = logging.getLogger(__name__)

CACHE_COALESCED = "cache_coalesced"


@dataclass
class LoadSummary:
    experiment_id: str
    started_at: float = 0.0  # intended time of the schedule's start (epoch s)
    ended_at: float = 0.0  # intended time of the last arrival
    finished_at: float = 0.0  # when every send was acknowledged (or gave up)
    asked: int = 0  # arrivals handled
    sent: int = 0  # records handed to Kafka
    acknowledged: int = 0
    #: distinct questions among the acknowledged records: the LLM passes the run waits for (the
    #: same as ``acknowledged`` unless the cache is off and a repeat was sent again)
    acknowledged_questions: int = 0
    failed: int = 0  # sends Kafka did not acknowledge
    cache_hits: int = 0
    coalesced: int = 0
    #: asks sent as cache misses because the database could not be reached (an outage longer
    #: than ``GeneratorSettings.db_retry_s``): hits that may have been lost, not errors
    cache_unavailable: int = 0
    repeats_selected: int = 0
    fresh_questions: int = 0
    stopped_early: bool = False
    #: why the schedule was stopped before its end (set by whoever set ``stop``), None if it was not
    stop_reason: str | None = None
    lag: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _arrival(arrival: ArrivalProcess | Mapping[str, Any], seed: int) -> ArrivalProcess:
    return arrival if isinstance(arrival, ArrivalProcess) else build_arrival(arrival, seed=seed)


def _policy(policy: ExperimentPolicy | Mapping[str, Any] | None) -> ExperimentPolicy:
    if policy is None:
        return ExperimentPolicy()
    return policy if isinstance(policy, ExperimentPolicy) else ExperimentPolicy.model_validate(policy)


class _Sender:
    """Produces envelopes and counts acknowledgements; the ack emits the ``generator.sent`` hop."""

    def __init__(self, producer: Producer, topic: str, emitter: EventEmitter,
                 summary: LoadSummary, wall: Callable[[], float],
                 on_failed: Callable[[Envelope], None] = lambda env: None) -> None:
        self.producer, self.topic, self.emitter = producer, topic, emitter
        self.summary, self.wall = summary, wall
        self.on_failed = on_failed
        self.acknowledged_ids: set[str] = set()

    def send(self, env: Envelope) -> None:
        value, key = encode(env), env.kafka_key()

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                self.summary.failed += 1
                # librdkafka retried it until message.timeout.ms: this is final
                log.error("send of %s/%s (seq %s) to %s [partition %s] failed: %s (code %s)",
                          env.experiment_id, env.question_id, env.send_seq, self.topic,
                          msg.partition(), err.str(), err.code())
                self.on_failed(env)
                return
            self.summary.acknowledged += 1
            self.acknowledged_ids.add(env.question_id)
            self.summary.acknowledged_questions = len(self.acknowledged_ids)
            now = self.wall()
            self.emitter.hop(env, H.GENERATOR_SENT, ts=now, intended_at=env.intended_at,
                             send_seq=env.send_seq, partition=msg.partition(), offset=msg.offset())

        produce(self.producer, self.topic, value, key, on_delivery=on_delivery)
        self.summary.sent += 1
        self.producer.poll(0)


def run_load(
    experiment_id: str,
    questions: Sequence[Question],
    arrival: ArrivalProcess | Mapping[str, Any],
    policy: ExperimentPolicy | Mapping[str, Any] | None = None,
    *,
    duration_s: float | None = None,
    count: int | None = None,
    repeat_share: float = 0.0,
    seed: int = 0,
    settings: GeneratorSettings | None = None,
    kafka: KafkaSettings | None = None,
    topics: TopicCatalog | None = None,
    db_settings: DatabaseSettings | None = None,
    producer: Producer | None = None,
    cache: AnswerCache | CacheLike | None = None,
    emitter: EventEmitter | None = None,
    stop: threading.Event | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] | None = None,
    wall: Callable[[], float] = time.time,
) -> LoadSummary:
    """Send ``questions`` to the pipeline on ``arrival``'s schedule; blocks until the schedule
    is done and every send is acknowledged; returns the :class:`LoadSummary`.

    ``arrival`` is an arrival process or its spec (``{"kind": "poisson", "rate": 50}``);
    ``policy`` the experiment's :class:`~pipeline.messages.ExperimentPolicy` (or its dict),
    carried by every record. The schedule ends after ``duration_s`` or ``count`` arrivals
    (default: one per question). Clients not given are created from the settings and closed
    at the end; ``stop`` ends the schedule early. A database outage does not end the load (see
    the module): its asks are sent as misses and counted in ``cache_unavailable``.
    """
    if not questions:
        raise ValueError("run_load needs at least one question")
    settings = settings or GeneratorSettings()
    topics = topics or load_topics()
    process = _arrival(arrival, seed)
    exp_policy = _policy(policy)
    if duration_s is None and count is None:
        count = len(questions)
    own_producer = producer is None
    producer = producer or make_producer(kafka or KafkaSettings(), "generator")
    own_emitter = emitter is None
    emitter = emitter or EventEmitter.create(kafka or KafkaSettings(), topics.events.name,
                                             stage="generator")
    # Waiting for the next send serves the producer's acknowledgements (timestamped as they
    # come); so does waiting for the database to come back.
    sleep = sleep or serving_sleep(producer.poll, monotonic)
    own_db: Database | None = None
    if cache is None and settings.cache_scope != "off":
        own_db = Database(db_settings, application_name="generator", autocommit=True,
                          clock=monotonic, sleep=sleep)
        cache = AnswerCache(own_db, scope=settings.cache_scope)
    guard = None if cache is None else GuardedCache(
        cache, experiment_id, retry_s=settings.db_retry_s,
        probe_every_s=settings.db_probe_every_s, monotonic=monotonic)
    stop = stop or threading.Event()

    summary = LoadSummary(experiment_id)
    in_flight: set[str] = set()

    def forget(env: Envelope) -> None:
        # Not in the pipeline after all: the next ask of this question is a miss, sent again.
        # Runs in a delivery callback: the release is queued, run before the next cache check.
        in_flight.discard(env.question_id)
        if guard is not None:
            guard.release(env.question_id)

    sender = _Sender(producer, topics.questions.name, emitter, summary, wall, on_failed=forget)
    selector = QuestionSelector(len(questions), repeat_share, seed)
    pacer = Pacer(monotonic=monotonic, sleep=sleep, wall=wall, start_delay_s=settings.start_delay_s)
    summary.started_at = pacer.epoch_start
    next_progress = monotonic() + settings.progress_every_s
    log.info("load %s: %s, %s questions, repeat share %.2f, duration %s, count %s",
             experiment_id, process.kind, len(questions), repeat_share, duration_s, count)
    try:
        for seq, offset in enumerate(process.offsets(duration_s=duration_s, count=count)):
            if stop.is_set():
                summary.stopped_early = True
                break
            pacer.wait(offset)
            intended_at = pacer.intended_at(offset)
            summary.ended_at = intended_at
            summary.asked += 1
            pick = next(selector)
            summary.repeats_selected += pick.repeat
            q = questions[pick.index]
            result = None
            if guard is not None:  # None: the database is away, the ask goes out as a miss
                result = guard.lookup(q.id, in_flight=q.id in in_flight, now=wall())
            if result is not None and result.outcome is not CacheOutcome.MISS:
                hit = result.outcome is CacheOutcome.HIT
                summary.cache_hits += hit
                summary.coalesced += not hit
                emitter.emit(Event(
                    experiment_id=experiment_id, question_id=q.id, stage="generator",
                    kind=EventKind.CACHE_HIT if hit else CACHE_COALESCED, ts=wall(),
                    attrs={"intended_at": intended_at, "send_seq": seq,
                           "access_count": result.access_count,
                           "terminal_state": result.terminal_state, "score": result.score,
                           "source_experiment_id": result.source_experiment_id},
                ))
            else:
                now = wall()
                env = Envelope(experiment_id=experiment_id, send_seq=seq, policy=exp_policy,
                               intended_at=intended_at, created_at=now, **q.envelope_fields())
                env.record_hop(H.GENERATOR_SENT, now)
                in_flight.add(q.id)  # before the send: a failure reported at once undoes it
                sender.send(env)
            if monotonic() >= next_progress:  # once, even after a long wait for the database
                next_progress = monotonic() + settings.progress_every_s
                log.info("load %s: asked %d, sent %d (acked %d), cache hits %d, coalesced %d, "
                         "cache unavailable %d, max lag %.3fs", experiment_id, summary.asked,
                         summary.sent, summary.acknowledged, summary.cache_hits,
                         summary.coalesced, guard.unavailable if guard else 0,
                         max(pacer.lags, default=0.0))
        summary.fresh_questions = selector.fresh_sent
        left = producer.flush(settings.flush_timeout_s)
        if left:
            summary.failed += left
            log.error("load %s: %d record(s) unacknowledged after %.0fs", experiment_id, left,
                      settings.flush_timeout_s)
        if guard is not None:
            guard.close()  # the releases of the last failed sends
            summary.cache_unavailable = guard.unavailable
    finally:
        if own_producer:
            producer.flush(1.0)
        if own_emitter:
            emitter.close()
        if own_db is not None:
            own_db.close()
    summary.finished_at = wall()
    summary.lag = pacer.lag_stats()
    log.info("load %s done: %s", experiment_id, summary.to_dict())
    return summary


__all__ = ["CACHE_COALESCED", "LoadSummary", "run_load"]
