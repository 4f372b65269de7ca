"""Parked partitions of the relay, by due time (pure; the relay pauses and resumes them).

A retry-tier partition is consumed in order. When its head record is not due yet the relay
pauses the partition, seeks back to that record and parks it here; ``due(now)`` hands back the
partitions whose head has become due, which the relay resumes. Other partitions keep flowing.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

PartitionKey = tuple[str, int]


@dataclass(frozen=True, order=True)
class Parked:
    due_at: float
    topic: str
    partition: int
    offset: int


class DueSchedule:
    def __init__(self) -> None:
        self._heap: list[Parked] = []
        self._parked: dict[PartitionKey, Parked] = {}

    def __len__(self) -> int:
        return len(self._parked)

    def __contains__(self, key: PartitionKey) -> bool:
        return key in self._parked

    def park(self, topic: str, partition: int, offset: int, due_at: float) -> None:
        key = (topic, partition)
        if key in self._parked:
            raise ValueError(f"{topic}[{partition}] is already parked")
        entry = Parked(due_at, topic, partition, offset)
        self._parked[key] = entry
        heapq.heappush(self._heap, entry)

    def due(self, now: float) -> list[Parked]:
        """Remove and return the parked partitions whose head is due at ``now``."""
        out = []
        while self._heap and self._heap[0].due_at <= now:
            entry = heapq.heappop(self._heap)
            if self._parked.get((entry.topic, entry.partition)) == entry:
                del self._parked[(entry.topic, entry.partition)]
                out.append(entry)
        return out

    def next_due(self) -> float | None:
        """The earliest due time among parked partitions (None if none is parked)."""
        while self._heap and self._parked.get((self._heap[0].topic, self._heap[0].partition)) != self._heap[0]:
            heapq.heappop(self._heap)  # dropped entries
        return self._heap[0].due_at if self._heap else None

    def drop(self, keys: list[PartitionKey]) -> list[Parked]:
        """Forget partitions (revoked); their heap entries are skipped lazily."""
        return [p for key in keys if (p := self._parked.pop(key, None)) is not None]

    def wait_s(self, now: float, max_wait_s: float) -> float:
        """How long the relay may block in ``consume``: until the next due time, at most max.

        Rounded up to the next whole millisecond, plus one: librdkafka counts timeouts in whole
        milliseconds (rounding down), and waking a hair before the due time would spin.
        """
        nxt = self.next_due()
        if nxt is None:
            return max_wait_s
        left = nxt - now
        if left <= 0:
            return 0.0
        return min(max_wait_s, (math.ceil(left * 1000 - 1e-6) + 1) / 1000)
