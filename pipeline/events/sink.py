"""The event sink: qa.events -> the ``events`` table, in batches, idempotent on ``event_id``.

Undecodable records go to qa.dlq (acknowledged before the offsets are committed); the offsets
are committed after the database commit.
"""

from __future__ import annotations

import json
import logging
import threading

from confluent_kafka import Message
from psycopg2.extras import execute_values

from pipeline.events.settings import EventSinkSettings
from pipeline.kafka.clients import make_consumer, make_producer, scoped_group_id
from pipeline.kafka.health import HealthServer, Heartbeat
from pipeline.kafka.loop import Batch, ConsumeLoop, DlqPublisher
from pipeline.kafka.settings import KafkaSettings
from pipeline.messages import Event, decode_event
from pipeline.storage.db import Database
from pipeline.storage.settings import DatabaseSettings
from pipeline.topics import TopicCatalog, load_topics

log = logging.getLogger(__name__)

INSERT_EVENTS = """
INSERT INTO events (event_id, experiment_id, question_id, stage, kind, ts, round, attempt, attrs)
VALUES %s ON CONFLICT (event_id) DO NOTHING
"""
_TEMPLATE = "(%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)"


class EventSinkHandler:
    """Writes a batch of events (and publishes its dead letters) durably."""

    def __init__(self, db: Database, dlq: DlqPublisher) -> None:
        self.db = db
        self.dlq = dlq

    def __call__(self, batch: Batch[Event]) -> None:
        if batch.records:
            self._write(batch)
        self.dlq.publish(batch.dead_letters)

    def _write(self, batch: Batch[Event]) -> None:
        rows = {}
        for rec in batch.records:
            e = rec.value
            rows[e.event_id] = (e.event_id, e.experiment_id, e.question_id, e.stage, e.kind, e.ts,
                                e.round, e.attempt, json.dumps(e.attrs))
        try:
            conn = self.db.conn()
            with conn, conn.cursor() as cur:
                execute_values(cur, INSERT_EVENTS, list(rows.values()), template=_TEMPLATE,
                               page_size=1000)
        except Exception:
            self.db.reset()
            raise


def decode_event_message(msg: Message) -> Event:
    return decode_event(msg.value())


def build_sink_loop(
    *, kafka: KafkaSettings, sink: EventSinkSettings, db: Database, topics: TopicCatalog,
    stop: threading.Event, heartbeat: Heartbeat,
) -> ConsumeLoop[Event]:
    consumer = make_consumer(kafka, scoped_group_id(sink.group_id, topics.prefix), "event-sink")
    dlq = DlqPublisher(make_producer(kafka, "event-sink.dlq"), topics.dlq.name)
    return ConsumeLoop(
        consumer, [topics.events.name], decode_event_message, EventSinkHandler(db, dlq),
        stage="sink", stop=stop, batch_size=sink.batch_size, poll_timeout_s=sink.poll_timeout_s,
        fill_batches=True,
        heartbeat=heartbeat,
    )


def run_event_sink(stop: threading.Event, *, kafka: KafkaSettings | None = None,
                   sink: EventSinkSettings | None = None, db_settings: DatabaseSettings | None = None,
                   topics: TopicCatalog | None = None, health_port: int | None = None) -> None:
    """Run until ``stop`` is set (the ``harness events-sink`` command)."""
    sink = sink or EventSinkSettings()
    heartbeat = Heartbeat("events-sink")
    port = sink.health_port if health_port is None else health_port
    with Database(db_settings, application_name="event-sink") as db, \
            HealthServer(heartbeat, host=sink.health_host, port=port):
        loop = build_sink_loop(kafka=kafka or KafkaSettings(), sink=sink, db=db,
                               topics=topics or load_topics(), stop=stop, heartbeat=heartbeat)
        loop.run()
