"""The storage service: qa.results and qa.dlq -> answers, attempts and dead_letters.

Each batch is one database transaction; ``durable_at`` is stamped just before the commit and
the Kafka offsets are committed after it (at-least-once; the idempotent upserts make redelivery
harmless). Undecodable records of either topic are stored in dead_letters in the same
transaction (for qa.dlq there is no further dead-letter topic to send them to). After the commit
a ``storage.written`` hop event is emitted per stored answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import Message

from pipeline.events import hops as H
from pipeline.events.emitter import EventEmitter
from pipeline.kafka.clients import make_consumer, scoped_group_id
from pipeline.kafka.health import HealthServer, Heartbeat
from pipeline.kafka.loop import Batch, ConsumeLoop
from pipeline.kafka.settings import KafkaSettings
from pipeline.messages import (
    DeadLetter,
    DecodeError,
    Envelope,
    EventKind,
    TerminalStatus,
    decode,
    decode_dlq_record,
    message_settings,
)
from pipeline.storage import rows as R
from pipeline.storage.db import Database
from pipeline.storage.settings import DatabaseSettings, StorageSettings
from pipeline.storage.writer import write_rows
from pipeline.topics import TopicCatalog, load_topics

log = logging.getLogger(__name__)

RESULT_STATES = (TerminalStatus.ACCEPTED, TerminalStatus.LOW_QUALITY)


class StorageDecoder:
    """qa.results -> a final Envelope (accepted / low_quality); qa.dlq -> Envelope or DeadLetter."""

    def __init__(self, topics: TopicCatalog) -> None:
        self.results = topics.results.name
        self.dlq = topics.dlq.name

    def __call__(self, msg: Message) -> Envelope | DeadLetter:
        if msg.topic() == self.dlq:
            record = decode_dlq_record(msg.value())
            if isinstance(record, Envelope) and record.status is not TerminalStatus.DEAD_LETTERED:
                raise DecodeError("schema_violation: status", "a dead-lettered envelope needs "
                                  "status 'dead_lettered'")
            return record
        env = decode(msg.value())
        if env.status not in RESULT_STATES:
            raise DecodeError("schema_violation: status",
                              f"a result needs status accepted or low_quality, got {env.status}")
        return env


class StorageHandler:
    """Turns a batch into rows and writes them in one transaction."""

    def __init__(self, db: Database, topics: TopicCatalog, emitter: EventEmitter, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.topics = topics
        self.emitter = emitter
        self.clock = clock
        self.max_payload = message_settings().dlq_max_payload_bytes

    def _tier_of(self, delay_s: float) -> str:
        return self.topics.tier_for(delay_s).tier

    def rows(self, batch: Batch[Envelope | DeadLetter], durable_at: float) -> R.RowSet:
        rows = R.RowSet.empty()
        for rec in batch.records:
            value, coords = rec.value, rec.coords
            if isinstance(value, DeadLetter):
                rows.add_dead_letter(R.dead_letter_row(value, coords, durable_at=durable_at))
                answer = R.answer_row_for_dead_letter(value, coords, durable_at=durable_at)
                if answer is not None:
                    rows.add_answer(answer, [])
                continue
            rows.add_answer(R.answer_row(value, coords, durable_at=durable_at),
                            R.attempt_rows(value, self._tier_of))
            if value.status is TerminalStatus.DEAD_LETTERED:
                rows.add_dead_letter(R.dead_letter_row_for_envelope(
                    value, rec.raw, coords, durable_at=durable_at,
                    max_payload_bytes=self.max_payload))
        for letter, coords in zip(batch.dead_letters, batch.dead_coords, strict=True):
            rows.add_dead_letter(R.dead_letter_row(letter, coords, durable_at=durable_at))
        return rows

    def __call__(self, batch: Batch[Envelope | DeadLetter]) -> None:
        durable_at = self.clock()
        rows = self.rows(batch, durable_at)
        try:
            conn = self.db.conn()
            with conn, conn.cursor() as cur:
                won = set(write_rows(cur, rows))
        except Exception:
            self.db.reset()
            raise
        for rec in batch.records:
            env = rec.value
            if isinstance(env, Envelope) and (env.experiment_id, env.question_id) in won:
                self.emitter.about(env, EventKind.HOP, ts=durable_at, hop=H.STORAGE_WRITTEN,
                                   terminal_state=env.status.value if env.status else None)


def build_storage_loop(
    *, kafka: KafkaSettings, storage: StorageSettings, db: Database, topics: TopicCatalog,
    emitter: EventEmitter, stop: threading.Event, heartbeat: Heartbeat,
) -> ConsumeLoop[Envelope | DeadLetter]:
    consumer = make_consumer(kafka, scoped_group_id(storage.group_id, topics.prefix), "storage")
    return ConsumeLoop(
        consumer, [topics.results.name, topics.dlq.name], StorageDecoder(topics),
        StorageHandler(db, topics, emitter), stage="storage", stop=stop,
        batch_size=storage.batch_size, poll_timeout_s=storage.poll_timeout_s, heartbeat=heartbeat,
    )


def run_storage(stop: threading.Event, *, kafka: KafkaSettings | None = None,
                storage: StorageSettings | None = None, db_settings: DatabaseSettings | None = None,
                topics: TopicCatalog | None = None, health_port: int | None = None) -> None:
    """Run until ``stop`` is set (the ``harness storage`` command)."""
    kafka = kafka or KafkaSettings()
    storage = storage or StorageSettings()
    topics = topics or load_topics()
    heartbeat = Heartbeat("storage")
    port = storage.health_port if health_port is None else health_port
    emitter = EventEmitter.create(kafka, topics.events.name, stage="storage")
    try:
        with Database(db_settings, application_name="storage") as db, \
                HealthServer(heartbeat, host=storage.health_host, port=port):
            build_storage_loop(kafka=kafka, storage=storage, db=db, topics=topics,
                               emitter=emitter, stop=stop, heartbeat=heartbeat).run()
    finally:
        emitter.close()
