"""Telemetry: the fire-and-forget event emitter every stage uses, and the sink service that
writes qa.events to PostgreSQL in batches.

    emitter = EventEmitter.create(KafkaSettings(), topics.events.name, stage="worker")
    emitter.emit(Event.of(env, stage="worker", kind="llm_attempt", ts=now, latency_s=0.8))
"""

from pipeline.events.emitter import EventEmitter, NullEmitter
from pipeline.events.settings import EventSettings, EventSinkSettings

__all__ = ["EventEmitter", "EventSettings", "EventSinkSettings", "NullEmitter"]
