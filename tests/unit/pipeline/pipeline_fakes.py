"""In-memory stand-ins for confluent-kafka clients (unit tests only)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeMessage:
    _topic: str
    _partition: int
    _offset: int
    _value: bytes | None
    _key: bytes | None = None
    _error: Any = None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def error(self) -> Any:
        return self._error


@dataclass
class FakeConsumer:
    """Serves queued batches; records commits, pauses, resumes and seeks."""

    batches: list[list[FakeMessage]] = field(default_factory=list)
    commits: list[list[tuple[str, int, int]]] = field(default_factory=list)
    paused: list[tuple[str, int]] = field(default_factory=list)
    resumed: list[tuple[str, int]] = field(default_factory=list)
    seeks: list[tuple[str, int, int]] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)
    closed: bool = False
    subscribed: list[str] = field(default_factory=list)

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.subscribed = list(topics)

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        self.timeouts.append(timeout)
        return self.batches.pop(0) if self.batches else []

    def poll(self, timeout: float) -> FakeMessage | None:
        """The first record of the next batch; the rest stays for the next ``consume``. The wait
        replaces the ``consume(n, 0)`` before it in ``timeouts`` (one entry per wait)."""
        self.timeouts[-1] = timeout
        batch = self.batches.pop(0) if self.batches else []
        if not batch:
            return None
        if batch[1:]:
            self.batches.insert(0, batch[1:])
        return batch[0]

    def commit(self, offsets: list[Any], asynchronous: bool = True) -> None:
        self.commits.append([(o.topic, o.partition, o.offset) for o in offsets])

    def pause(self, partitions: list[Any]) -> None:
        self.paused.extend((p.topic, p.partition) for p in partitions)

    def resume(self, partitions: list[Any]) -> None:
        self.resumed.extend((p.topic, p.partition) for p in partitions)

    def seek(self, tp: Any) -> None:
        self.seeks.append((tp.topic, tp.partition, tp.offset))

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeProducer:
    """Acknowledges (or fails) every record on poll/flush."""

    fail: bool = False
    produced: list[tuple[str, bytes | None, bytes | None]] = field(default_factory=list)
    _pending: list[tuple[Callable[..., None] | None, FakeMessage]] = field(default_factory=list)

    def produce(self, topic: str, value: bytes | None = None, key: bytes | None = None,
                on_delivery: Callable[..., None] | None = None, **kw: Any) -> None:
        self.produced.append((topic, value, key))
        msg = FakeMessage(topic, kw.get("partition", 0), len(self.produced) - 1, value, key)
        self._pending.append((on_delivery, msg))

    def poll(self, timeout: float = 0) -> int:
        pending, self._pending = self._pending, []
        for cb, msg in pending:
            if cb is not None:
                cb(FakeError() if self.fail else None, msg)
        return len(pending)

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return 0


class FakeError:
    def str(self) -> str:
        return "broker down"

    def code(self) -> int:
        return -1

    def fatal(self) -> bool:
        return False
