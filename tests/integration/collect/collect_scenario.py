"""A small run written to PostgreSQL exactly as the pipeline writes it, without Kafka.

Envelopes go through the pipeline's own code: hops and attempts recorded the way the worker and
the relay record them, Flink's ``route_scored`` decides and moves rounds, the storage service's
``StorageHandler`` writes answers/attempts/dead_letters (with its clock as ``durable_at``), the
event sink's handler writes the events, and ``AnswerCache`` serves and coalesces repeated asks.
If any of those contracts drifts, the collector's test sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flink.routing import Output, PolicyDefaults, effective_policy, route_scored
from flink.windows import WindowStats, window_event
from pipeline.events import hops as H
from pipeline.events.emitter import RecordingEmitter
from pipeline.events.sink import EventSinkHandler
from pipeline.generator.load import CACHE_COALESCED
from pipeline.kafka.loop import Batch, DlqPublisher
from pipeline.kafka.records import Coordinates, Decoded
from pipeline.messages import (
    Answer,
    Attempt,
    AttemptStatus,
    DeadLetter,
    Envelope,
    ErrorClass,
    Event,
    EventKind,
    ExperimentPolicy,
    QuestionText,
    TerminalStatus,
    build_dead_letter,
    decode,
    decode_event,
    encode,
)
from pipeline.storage.cache import AnswerCache, CacheOutcome
from pipeline.storage.db import Database
from pipeline.storage.service import StorageHandler
from pipeline.topics import load_topics

POLICY = ExperimentPolicy(score_threshold=0.5, max_rounds=1, scorer="lexical")


@dataclass
class Step:
    """One LLM attempt of a plan: how it ends, how long it takes, and the wait chosen after it."""

    outcome: str  # "ok" or an ErrorClass value
    duration_s: float
    delay_s: float | None = None  # backoff (in worker) or deferral (retry tier) after it
    defer: bool = False
    http_status: int | None = None


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Scenario:
    """Writes one experiment's telemetry; ``offset`` numbers the fake Kafka coordinates."""

    db: Database
    cache_db: Database
    experiment_id: str
    offset: int = 0
    seq: int = 0
    topics: Any = field(default_factory=load_topics)

    def __post_init__(self) -> None:
        self.clock = _Clock()
        self.generator = RecordingEmitter(stage="generator")
        self.worker = RecordingEmitter(stage="worker")
        self.relay = RecordingEmitter(stage="relay")
        self.storage_events = RecordingEmitter(stage="storage")
        self.storage = StorageHandler(self.db, self.topics, self.storage_events, clock=self.clock)
        # no dead letters go through the sink here, so its DLQ producer is never used
        no_producer: Any = None
        self.sink = EventSinkHandler(self.db, DlqPublisher(no_producer, self.topics.dlq.name))
        self.flink_events: list[Event] = []
        self.cache = AnswerCache(self.cache_db)

    # -- Kafka stand-ins -------------------------------------------------------------------
    def _coords(self, topic: str) -> Coordinates:
        self.offset += 1
        return Coordinates(topic, 0, self.offset)

    def store(self, env: Envelope | DeadLetter, durable_at: float) -> None:
        """The storage service's batch for one record read from qa.results or qa.dlq."""
        to_dlq = isinstance(env, DeadLetter) or env.status is TerminalStatus.DEAD_LETTERED
        topic = self.topics.dlq.name if to_dlq else self.topics.results.name
        self.clock.now = durable_at
        self.storage(Batch(records=[Decoded(env, self._coords(topic), encode(env))]))

    def flush_events(self) -> None:
        """The event sink's write of everything the stages emitted."""
        events = [*self.generator.events, *self.worker.events, *self.relay.events,
                  *self.storage_events.events, *self.flink_events]
        batch = Batch(records=[Decoded(e, self._coords(self.topics.events.name), encode(e))
                               for e in events])
        self.sink(batch)
        for emitter in (self.generator, self.worker, self.relay, self.storage_events):
            emitter.events.clear()
        self.flink_events.clear()

    # -- stages ----------------------------------------------------------------------------
    def send(self, question_id: str, intended_at: float) -> Envelope:
        """The generator: build, stamp, produce; the ack emits the ``generator.sent`` hop event."""
        env = Envelope(experiment_id=self.experiment_id, question_id=question_id,
                       send_seq=self.seq, policy=POLICY, intended_at=intended_at,
                       created_at=intended_at + 0.001,
                       question=QuestionText(title=f"question {question_id}"),
                       reference_answer="the reference answer")
        env.record_hop(H.GENERATOR_SENT, intended_at + 0.001)
        self.generator.hop(env, H.GENERATOR_SENT, ts=intended_at + 0.003, intended_at=intended_at,
                           send_seq=self.seq, partition=0, offset=self.seq)
        self.seq += 1
        return env

    def worker_visit(self, env: Envelope, received_at: float, plan: list[Step]) -> float:
        """Attempts of one round as the worker records them (deferrals through the relay).
        Returns the time the round ended (answered, or dead-lettered)."""
        t = received_at
        env.record_hop(H.WORKER_RECEIVED, t)
        for step in plan:
            start = t + 0.001
            end = start + step.duration_s
            ok = step.outcome == "ok"
            attempt = Attempt(round=env.round, number=env.attempt + 1,
                              status=AttemptStatus.OK if ok else AttemptStatus.ERROR,
                              error_class=None if ok else ErrorClass(step.outcome),
                              http_status=step.http_status, delay_s=step.delay_s,
                              started_at=start, ended_at=end)
            env.record_attempt(attempt)
            tier = self.topics.tier_for(step.delay_s).tier if step.defer and step.delay_s else None
            action = "answer" if ok else ("defer" if step.defer else
                                          "backoff" if step.delay_s else "dead_letter")
            self.worker.about(env, EventKind.LLM_ATTEMPT, ts=end, latency_s=step.duration_s,
                              started_at=start, status=attempt.status.value,
                              error_class=None if ok else step.outcome,
                              http_status=step.http_status, delay_s=step.delay_s,
                              retry_after_s=None, action=action, tier=tier, worker="w1")
            t = end
            if ok:
                env.answer = Answer(text="an answer", model="sim")
                env.record_hop(H.WORKER_ANSWERED, t + 0.002)
                return t + 0.002
            if step.defer:
                deferred = t + 0.001
                env.deferrals += 1
                env.due_at = deferred + (step.delay_s or 0.0)
                env.record_hop(H.WORKER_DEFERRED, deferred)
                released = env.due_at
                env.record_hop(H.RELAY_RELEASED, released)
                self.relay.hop(env, H.RELAY_RELEASED, ts=released, tier=tier)
                t = released + 0.01
                env.record_hop(H.WORKER_RECEIVED, t)
            elif step.delay_s:
                t += step.delay_s
        env.status = TerminalStatus.DEAD_LETTERED
        env.dlq_reason = f"{plan[-1].outcome}: HTTP {plan[-1].http_status}"
        env.record_hop(H.DEAD_LETTERED, t + 0.001)
        return t + 0.001

    def score(self, env: Envelope, score: float, at: float) -> Envelope:
        """Flink's routing: the next round's envelope, or the terminal result."""
        outcome = route_scored(env, score, effective_policy(env, PolicyDefaults()), now=at)
        for record in outcome.records:
            if record.output is Output.EVENTS:
                self.flink_events.append(decode_event(record.value))
        primary = next(r for r in outcome.records if r.output is not Output.EVENTS)
        return decode(primary.value)

    def answer(self, question_id: str, intended_at: float, rounds: list[tuple[list[Step], float]],
               e2e_s: float) -> Envelope:
        """A question answered through the LLM: per round a plan and a score; stored at
        ``intended_at + e2e_s``."""
        env = self.send(question_id, intended_at)
        at = intended_at + 0.05
        for plan, score in rounds:
            answered = self.worker_visit(env, at, plan)
            env = self.score(env, score, answered + 0.05)
            at = answered + 0.1
        assert env.status in (TerminalStatus.ACCEPTED, TerminalStatus.LOW_QUALITY), env.status
        self.store(env, intended_at + e2e_s)
        return env

    def dead_letter_in_worker(self, question_id: str, intended_at: float, plan: list[Step],
                              e2e_s: float) -> Envelope:
        env = self.send(question_id, intended_at)
        self.worker_visit(env, intended_at + 0.05, plan)
        assert env.status is TerminalStatus.DEAD_LETTERED
        self.store(env, intended_at + e2e_s)
        return env

    def dead_letter_raw(self, payload: bytes, reason: str, at: float,
                        durable_at: float) -> DeadLetter:
        """Bytes that did not decode, dead-lettered by the worker and stored from qa.dlq."""
        letter = build_dead_letter(payload, reason=reason, topic=self.topics.questions.name,
                                   partition=0, offset=self.offset, at=at, stage="worker")
        self.store(letter, durable_at)
        return letter

    def in_flight(self, question_id: str, intended_at: float, plan: list[Step]) -> Envelope:
        """Sent, and possibly tried, but not terminal (its attempts are only in the events)."""
        env = self.send(question_id, intended_at)
        if plan:
            env.record_hop(H.WORKER_RECEIVED, intended_at + 0.05)
            t = intended_at + 0.05
            for step in plan:
                start, end = t + 0.001, t + 0.001 + step.duration_s
                env.record_attempt(Attempt(round=0, number=env.attempt + 1,
                                           status=AttemptStatus.ERROR,
                                           error_class=ErrorClass(step.outcome),
                                           delay_s=step.delay_s, started_at=start, ended_at=end))
                self.worker.about(env, EventKind.LLM_ATTEMPT, ts=end, latency_s=step.duration_s,
                                  started_at=start, status="error", error_class=step.outcome,
                                  delay_s=step.delay_s, action="backoff", tier=None, worker="w1")
                t = end + (step.delay_s or 0.0)
        return env

    def ask_again(self, question_id: str, intended_at: float, *, in_flight: bool) -> CacheOutcome:
        """The generator's storage check for a repeated ask, and its event."""
        served = intended_at + 0.01
        result = self.cache.lookup(self.experiment_id, question_id, in_flight=in_flight, now=served)
        assert result.outcome is not CacheOutcome.MISS
        hit = result.outcome is CacheOutcome.HIT
        self.generator.emit(Event(
            experiment_id=self.experiment_id, question_id=question_id, stage="generator",
            kind=EventKind.CACHE_HIT if hit else CACHE_COALESCED, ts=served,
            attrs={"intended_at": intended_at, "send_seq": self.seq,
                   "access_count": result.access_count, "terminal_state": result.terminal_state,
                   "score": result.score, "source_experiment_id": result.source_experiment_id}))
        self.seq += 1
        return result.outcome

    def window(self, start: float, end: float, decisions: list[tuple[str, float]]) -> None:
        stats = WindowStats()
        for decision, score in decisions:
            stats = stats.add(decision, score)
        self.flink_events.append(window_event(self.experiment_id, stats, start=start, end=end,
                                              now=end + 0.5))
