"""Take what has arrived, without waiting for a batch to fill.

librdkafka's ``Consumer.consume(n, timeout)`` returns early only when ``n`` messages are there:
with fewer it blocks for the whole timeout (measured on this broker: one waiting record, a
``consume(500, 1.0)`` returned after 1,000 ms; a ``poll`` returned it in 0.2 ms). Every
service that consumed in batches therefore added its poll timeout to the latency of every record
at low rates (the storage hop was about 100 ms at 4 questions/s with a 50 ms timeout).

:func:`consume_ready` waits at most ``timeout_s`` for the *first* record, then takes whatever else
is already fetched, up to ``max_messages``, without waiting. Under load the batches stay large on
their own: records accumulate while the previous batch is handled.
"""

from __future__ import annotations

from typing import Protocol

from confluent_kafka import Message


class _Consumer(Protocol):
    def consume(self, num_messages: int = ..., timeout: float = ...) -> list[Message]: ...

    def poll(self, timeout: float = ...) -> Message | None: ...


def consume_ready(consumer: _Consumer, max_messages: int, timeout_s: float) -> list[Message]:
    """Up to ``max_messages`` records: those already fetched at once, else the first to arrive
    within ``timeout_s`` together with any fetched with it. An empty list after the timeout."""
    messages = consumer.consume(max_messages, 0)
    if messages or timeout_s <= 0:
        return messages
    first = consumer.poll(timeout_s)
    if first is None:
        return []
    if max_messages <= 1:
        return [first]
    return [first, *consumer.consume(max_messages - 1, 0)]
