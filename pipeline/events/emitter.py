"""Fire-and-forget telemetry: ``emit`` never blocks and never raises for Kafka trouble.

Events go through a producer of their own (a full event queue must not stall answers). When its
local queue is full the event is dropped, counted, and a warning is logged at most once per
interval; delivery failures are counted the same way. ``close`` flushes what is queued.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from pipeline.events.settings import EventSettings
from pipeline.kafka.clients import make_producer
from pipeline.kafka.produce import produce
from pipeline.kafka.settings import KafkaSettings
from pipeline.messages import Envelope, Event, EventKind, encode

log = logging.getLogger(__name__)


class EventEmitter:
    def __init__(self, producer: Producer | None, topic: str, *, stage: str,
                 drop_log_interval_s: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.producer = producer
        self.topic = topic
        self.stage = stage
        self.clock = clock
        self.drop_log_interval_s = drop_log_interval_s
        self.sent = 0
        self.dropped = 0
        self.failed = 0
        self._last_drop_log = float("-inf")
        self._lock = threading.Lock()

    @classmethod
    def create(cls, kafka: KafkaSettings, topic: str, *, stage: str,
               settings: EventSettings | None = None) -> EventEmitter:
        settings = settings or EventSettings()
        if not settings.enabled:
            return NullEmitter(topic, stage=stage)
        producer = make_producer(
            kafka, f"{stage}.events",
            **{"queue.buffering.max.messages": settings.queue_max_messages,
               "linger.ms": settings.linger_ms},
        )
        return cls(producer, topic, stage=stage, drop_log_interval_s=settings.drop_log_interval_s)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            with self._lock:
                self.failed += 1
            self._warn(f"event delivery to {msg.topic()} failed: {err.str()}")

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_drop_log >= self.drop_log_interval_s:
            self._last_drop_log = now
            log.warning("%s (dropped so far: %d, failed: %d)", message, self.dropped, self.failed)

    def emit(self, event: Event) -> bool:
        """Queue ``event``; False when it was dropped (queue full)."""
        if self.producer is None:
            self.dropped += 1
            return False
        try:
            produce(self.producer, self.topic, encode(event), event.kafka_key(),
                    on_delivery=self._on_delivery, max_wait_s=0)
        except BufferError:
            with self._lock:
                self.dropped += 1
            self._warn(f"{self.stage}: event queue full, event dropped")
            return False
        finally:
            self.producer.poll(0)
        self.sent += 1
        return True

    def about(self, env: Envelope, kind: str, *, ts: float | None = None, **attrs: Any) -> bool:
        """Emit an event about ``env`` from this stage."""
        return self.emit(Event.of(env, stage=self.stage, kind=kind,
                                  ts=self.clock() if ts is None else ts, **attrs))

    def hop(self, env: Envelope, name: str, *, ts: float | None = None, **attrs: Any) -> bool:
        """Emit the ``hop`` event of hop ``name``."""
        return self.about(env, EventKind.HOP, ts=ts, hop=name, **attrs)

    def close(self, timeout_s: float = 10.0) -> None:
        if self.producer is None:
            return
        left = self.producer.flush(timeout_s)
        if left:
            log.warning("%s: %d event(s) not delivered at close", self.stage, left)
        log.info("%s events: sent %d, dropped %d, failed %d", self.stage, self.sent,
                 self.dropped, self.failed)


class NullEmitter(EventEmitter):
    """Emits nothing (events disabled, or tests that do not look at events)."""

    def __init__(self, topic: str = "", *, stage: str = "none") -> None:
        super().__init__(None, topic, stage=stage)

    def emit(self, event: Event) -> bool:
        return True


class RecordingEmitter(EventEmitter):
    """Keeps events in a list (unit tests)."""

    def __init__(self, *, stage: str = "test", clock: Callable[[], float] = time.time) -> None:
        super().__init__(None, "", stage=stage, clock=clock)
        self.events: list[Event] = []

    def emit(self, event: Event) -> bool:
        self.events.append(event)
        return True
