"""asyncio adapters: await a produced record's acknowledgement; run the consumer on one thread.

confluent-kafka is callback based: ``produce`` enqueues, and delivery reports arrive through
``poll``. :class:`AsyncProducer` polls on a background thread and resolves an asyncio future per
record from the delivery callback, so a task can ``await producer.send(...)`` and know that its
output is durable (acks=all) before it marks its input record complete.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from pipeline.kafka.produce import DEFAULT_MAX_WAIT_S, ProduceQueueFull, produce_async

log = logging.getLogger(__name__)


class DeliveryFailed(RuntimeError):
    """The broker did not acknowledge a record (after the producer's own retries), or the
    local queue stayed full for ``full_queue_max_wait_s``."""

    def __init__(self, topic: str, error: KafkaError) -> None:
        super().__init__(f"delivery to {topic} failed: {error.str()}")
        self.topic = topic
        self.error = error


@dataclass(frozen=True, slots=True)
class Delivered:
    topic: str
    partition: int
    offset: int


def _resolve(fut: asyncio.Future[Delivered], err: KafkaError | None, topic: str,
             partition: int, offset: int) -> None:
    if fut.done():  # the awaiting task was cancelled
        return
    if err is not None:
        fut.set_exception(DeliveryFailed(topic, err))
    else:
        fut.set_result(Delivered(topic, partition, offset))


class AsyncProducer:
    """An idempotent producer whose sends can be awaited until acknowledged."""

    def __init__(self, producer: Producer, *, poll_interval_s: float = 0.05,
                 full_queue_wait_s: float = 0.005,
                 full_queue_max_wait_s: float = DEFAULT_MAX_WAIT_S) -> None:
        self.producer = producer
        self.poll_interval_s = poll_interval_s
        self.full_queue_wait_s = full_queue_wait_s
        self.full_queue_max_wait_s = full_queue_max_wait_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="kafka-producer-poll", daemon=True)
        self.queue_full_waits = 0

    def start(self) -> AsyncProducer:
        """Bind to the running loop and start polling for delivery reports."""
        self._loop = asyncio.get_running_loop()
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._closed.is_set():
            self.producer.poll(self.poll_interval_s)

    async def send(self, topic: str, value: bytes, key: bytes | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> Delivered:
        """Produce and wait for the acknowledgement; raises :class:`DeliveryFailed`."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("AsyncProducer.start() was not called")
        fut: asyncio.Future[Delivered] = loop.create_future()

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            loop.call_soon_threadsafe(_resolve, fut, err, msg.topic() or topic,
                                      msg.partition() or 0, msg.offset() or -1)

        try:
            # While the local queue is full, the poll thread frees room as acknowledgements arrive.
            self.queue_full_waits += await produce_async(
                self.producer, topic, value, key, on_delivery=on_delivery, headers=headers,
                max_wait_s=self.full_queue_max_wait_s, pause_s=self.full_queue_wait_s)
        except ProduceQueueFull as exc:
            raise DeliveryFailed(topic, KafkaError(KafkaError._QUEUE_FULL, str(exc))) from exc
        return await fut

    async def flush(self, timeout_s: float = 30.0) -> int:
        """Wait for every queued record; returns how many are still unacknowledged."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.producer.flush, timeout_s)

    async def close(self, timeout_s: float = 30.0) -> None:
        left = await self.flush(timeout_s)
        if left:
            log.warning("%d record(s) unacknowledged at close", left)
        self._closed.set()
        if self._thread.is_alive():
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 5.0)


def consumer_executor(name: str) -> concurrent.futures.ThreadPoolExecutor:
    """One thread for every call on a consumer (consume, commit, pause, close): librdkafka's
    rebalance callbacks then always run on that thread, never concurrently with the loop's calls."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
