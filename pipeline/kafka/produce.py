"""Produce with backpressure: the one place that handles a full local producer queue.

confluent-kafka's ``produce`` only enqueues; when librdkafka's local queue is full it raises
``BufferError`` at once. Room comes back as the broker acknowledges records, which happens
while someone serves the producer's delivery reports (``poll``). So a full queue is waited out,
not dropped, but only for a bounded time: a queue that stays full for ``max_wait_s`` means the
broker is not taking records, and :class:`ProduceQueueFull` (a ``BufferError``) is raised for
the caller to fail the batch, stop the service, or drop the record (telemetry passes
``max_wait_s=0``).

* :func:`produce` serves delivery reports itself (``producer.poll``) while it waits;
* :func:`produce_async` is for a producer whose reports are served by another thread
  (:class:`~pipeline.kafka.aio.AsyncProducer`): it yields to the event loop while it waits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

from pipeline.waiting import wait_until

DeliveryCallback = Callable[[Any, Any], None]
"""``on_delivery(err, msg)``: err is a KafkaError or None."""

DEFAULT_MAX_WAIT_S = 30.0


class ProducerLike(Protocol):
    def produce(self, topic: str, *args: Any, **kwargs: Any) -> None: ...

    def poll(self, timeout: float = ...) -> int: ...


class ProduceQueueFull(BufferError):
    """The producer's local queue stayed full for the whole wait."""

    def __init__(self, topic: str, waited_s: float) -> None:
        super().__init__(f"producer queue for {topic} still full after {waited_s:g} s")
        self.topic = topic
        self.waited_s = waited_s


def _kwargs(value: bytes | None, key: bytes | None, on_delivery: DeliveryCallback | None,
            headers: list[tuple[str, bytes]] | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"value": value, "key": key}
    if on_delivery is not None:
        kwargs["on_delivery"] = on_delivery
    if headers:
        kwargs["headers"] = headers
    return kwargs


def _try(producer: ProducerLike, topic: str, kwargs: dict[str, Any]) -> bool:
    try:
        producer.produce(topic, **kwargs)
    except BufferError:
        return False
    return True


def produce(
    producer: ProducerLike,
    topic: str,
    value: bytes | None,
    key: bytes | None = None,
    *,
    on_delivery: DeliveryCallback | None = None,
    headers: list[tuple[str, bytes]] | None = None,
    max_wait_s: float = DEFAULT_MAX_WAIT_S,
    poll_s: float = 0.05,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Enqueue one record; while the local queue is full, serve delivery reports (which frees
    room) and try again, for at most ``max_wait_s``; then raise :class:`ProduceQueueFull`."""
    kwargs = _kwargs(value, key, on_delivery, headers)
    wait_until(lambda: _try(producer, topic, kwargs), max_wait_s,
               what=topic, error=lambda _: ProduceQueueFull(topic, max_wait_s),
               pause_s=poll_s, backoff=1.0, clock=clock, sleep=producer.poll)


async def produce_async(
    producer: ProducerLike,
    topic: str,
    value: bytes | None,
    key: bytes | None = None,
    *,
    on_delivery: DeliveryCallback | None = None,
    headers: list[tuple[str, bytes]] | None = None,
    max_wait_s: float = DEFAULT_MAX_WAIT_S,
    pause_s: float = 0.005,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """:func:`produce` for a producer polled by another thread: waits without blocking the
    event loop. Returns how many times it found the queue full (0 when there was room)."""
    kwargs = _kwargs(value, key, on_delivery, headers)
    deadline = clock() + max_wait_s
    waits = 0
    while not _try(producer, topic, kwargs):
        left = deadline - clock()
        if left <= 0:
            raise ProduceQueueFull(topic, max_wait_s)
        waits += 1
        await asyncio.sleep(min(pause_s, left))
    return waits


__all__ = ["DEFAULT_MAX_WAIT_S", "ProduceQueueFull", "produce", "produce_async"]
