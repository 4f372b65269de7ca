"""Which offsets are safe to commit when records of a partition complete out of order.

A worker takes records 10, 11, 12 from a partition and finishes them in the order 12, 10, 11.
Committing 13 after record 12 would lose 10 and 11 on a crash; the committable offset is always
the lowest offset still in flight (or one past the highest seen when nothing is in flight).

:class:`PartitionOffsets` is the pure arithmetic for one partition; :class:`OffsetTracker` keeps
one per assigned partition, thread-safe, with a *generation* per assignment so that a task
finishing after its partition was revoked (and maybe assigned back) cannot move the new
assignment's offsets.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

TopicPartitionKey = tuple[str, int]


class PartitionOffsets:
    """Started and completed offsets of one partition (offsets start in increasing order)."""

    def __init__(self) -> None:
        self._in_flight: list[int] = []  # heap of started, not yet retired offsets
        self._pending: set[int] = set()  # started, not completed
        self._done: set[int] = set()  # completed offsets still in the heap
        self._high: int | None = None  # highest offset started
        self._committed: int | None = None  # last offset handed out by ``take_commit``

    @property
    def in_flight(self) -> int:
        """Records started and not completed."""
        return len(self._pending)

    def start(self, offset: int) -> None:
        if self._high is not None and offset <= self._high:
            raise ValueError(f"offset {offset} started after {self._high}: offsets must increase")
        self._high = offset
        self._pending.add(offset)
        heapq.heappush(self._in_flight, offset)

    def complete(self, offset: int) -> None:
        """Mark a started offset done (completing an unknown or finished offset is an error)."""
        if offset not in self._pending:
            raise ValueError(f"offset {offset} was not started or is already complete")
        self._pending.remove(offset)
        self._done.add(offset)
        while self._in_flight and self._in_flight[0] in self._done:
            self._done.discard(heapq.heappop(self._in_flight))

    def committable(self) -> int | None:
        """The offset to commit (the next record to read after a restart), or None if nothing new.

        It is the lowest offset in flight, or one past the highest started when none is.
        """
        if self._high is None:
            return None
        position = self._in_flight[0] if self._in_flight else self._high + 1
        if self._committed is not None and position <= self._committed:
            return None
        return position

    def take_commit(self) -> int | None:
        """``committable()``, remembered as handed out (so it is not offered twice)."""
        position = self.committable()
        if position is not None:
            self._committed = position
        return position

    def commit_failed(self, position: int) -> None:
        """A commit of ``position`` failed: offer it again on the next ``take_commit``."""
        if self._committed == position:
            self._committed = None


@dataclass
class _Assignment:
    generation: int
    offsets: PartitionOffsets = field(default_factory=PartitionOffsets)


@dataclass(frozen=True)
class Ticket:
    """What a task needs to report its record complete: partition, offset and generation."""

    topic: str
    partition: int
    offset: int
    generation: int


class OffsetTracker:
    """Offsets of every assigned partition; safe to call from the consumer thread and the loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._parts: dict[TopicPartitionKey, _Assignment] = {}
        self._generation = 0

    def assign(self, keys: list[TopicPartitionKey]) -> None:
        with self._lock:
            for key in keys:
                self._generation += 1
                self._parts[key] = _Assignment(self._generation)

    def revoke(self, keys: list[TopicPartitionKey]) -> dict[TopicPartitionKey, int]:
        """Forget partitions; returns their final committable offsets (commit them now)."""
        out: dict[TopicPartitionKey, int] = {}
        with self._lock:
            for key in keys:
                part = self._parts.pop(key, None)
                if part is not None and (position := part.offsets.take_commit()) is not None:
                    out[key] = position
        return out

    def start(self, topic: str, partition: int, offset: int) -> Ticket:
        with self._lock:
            part = self._parts.get((topic, partition))
            if part is None:  # a record fetched before its assignment was registered
                self._generation += 1
                part = self._parts[(topic, partition)] = _Assignment(self._generation)
            part.offsets.start(offset)
            return Ticket(topic, partition, offset, part.generation)

    def complete(self, ticket: Ticket) -> bool:
        """Mark done; False when the partition was revoked meanwhile (nothing to commit then)."""
        with self._lock:
            part = self._parts.get((ticket.topic, ticket.partition))
            if part is None or part.generation != ticket.generation:
                return False
            part.offsets.complete(ticket.offset)
            self._idle.notify_all()
            return True

    def wait_idle(self, keys: list[TopicPartitionKey], timeout_s: float,
                  clock: Callable[[], float] = time.monotonic) -> bool:
        """Block until no record of ``keys`` is in flight (True) or ``timeout_s`` passed (False).

        A worker calls it when partitions are revoked, so that their records finish and are
        committed before the new owner starts (fewer duplicates after a rebalance).
        """
        deadline = clock() + timeout_s
        with self._idle:
            while any((p := self._parts.get(k)) is not None and p.offsets.in_flight for k in keys):
                remaining = deadline - clock()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def take_commits(self) -> dict[TopicPartitionKey, int]:
        """Offsets that advanced since the last call, per partition."""
        with self._lock:
            out = {}
            for key, part in self._parts.items():
                position = part.offsets.take_commit()
                if position is not None:
                    out[key] = position
            return out

    def commit_failed(self, commits: dict[TopicPartitionKey, int]) -> None:
        """Commits that did not go through: offer them again."""
        with self._lock:
            for key, position in commits.items():
                part = self._parts.get(key)
                if part is not None:
                    part.offsets.commit_failed(position)

    def in_flight(self) -> int:
        with self._lock:
            return sum(p.offsets.in_flight for p in self._parts.values())

    def partitions(self) -> list[TopicPartitionKey]:
        with self._lock:
            return list(self._parts)
