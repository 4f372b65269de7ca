"""The simulator's ground truth: requests by outcome and by status, tokens, concurrency."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any


class Counters:
    def __init__(self) -> None:
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        """Zero the counts (requests in flight stay in flight)."""
        self.total = 0
        self.by_outcome: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.max_in_flight = self.in_flight
        self.since = time.time()

    def record(self, outcome: str, status: int) -> None:
        self.total += 1
        self.by_outcome[outcome] += 1
        self.by_status[status] += 1

    def enter(self) -> None:
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def leave(self) -> None:
        self.in_flight -= 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "total": self.total,
            "by_outcome": dict(self.by_outcome),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
        }
