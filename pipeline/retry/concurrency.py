"""Concurrency limiters for asyncio callers: a fixed limit, or AIMD (additive increase,
multiplicative decrease, as in TCP congestion control and Netflix's concurrency-limits AIMDLimit).

AIMD: each success while the limiter is at least half used raises the limit by ``increase``
(up to ``max_limit``); each drop (overload, rate limit, timeout) multiplies it by ``backoff_ratio``
(down to ``min_limit``). The pure arithmetic lives in :class:`AIMDLimit`; :class:`ConcurrencyLimiter`
adds the waiting.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class FixedLimit:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit: float = float(limit)

    def on_success(self, in_flight: int) -> None:
        """A fixed limit ignores outcomes."""

    def on_drop(self) -> None:
        """A fixed limit ignores outcomes."""


class AIMDLimit:
    def __init__(
        self,
        initial: int,
        *,
        min_limit: int = 1,
        max_limit: int = 256,
        increase: float = 1.0,
        backoff_ratio: float = 0.5,
    ) -> None:
        if not 1 <= min_limit <= initial <= max_limit:
            raise ValueError("need 1 <= min_limit <= initial <= max_limit")
        if not 0 < backoff_ratio < 1:
            raise ValueError("backoff_ratio must be within (0, 1)")
        if increase <= 0:
            raise ValueError("increase must be > 0")
        self.limit = float(initial)
        self.min_limit, self.max_limit = min_limit, max_limit
        self.increase, self.backoff_ratio = increase, backoff_ratio

    def on_success(self, in_flight: int) -> None:
        # Only grow when the current limit is actually being used (else it grows without evidence).
        if in_flight * 2 >= self.limit:
            self.limit = min(float(self.max_limit), self.limit + self.increase)

    def on_drop(self) -> None:
        self.limit = max(float(self.min_limit), math.floor(self.limit * self.backoff_ratio))


class Slot:
    """One admitted call; mark it dropped if the dependency pushed back."""

    def __init__(self) -> None:
        self.dropped = False

    def drop(self) -> None:
        self.dropped = True


class ConcurrencyLimiter:
    """At most ``floor(limit)`` calls in flight; ``limit`` adapts if the policy is AIMD.

    Waiters are woken first come, first served as slots free up (or as the limit grows).
    """

    def __init__(self, limit: FixedLimit | AIMDLimit) -> None:
        self.policy = limit
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def limit(self) -> int:
        return max(1, int(self.policy.limit))

    def try_acquire(self) -> bool:
        if self.in_flight < self.limit:
            self.in_flight += 1
            return True
        return False

    def release(self, *, dropped: bool) -> None:
        if dropped:
            self.policy.on_drop()
        else:
            self.policy.on_success(self.in_flight)
        self.in_flight -= 1
        self._wake()

    def cancel(self) -> None:
        """Give back a slot whose call never happened or ended without an outcome: the limit
        does not adapt."""
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        free = self.limit - self.in_flight
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    async def acquire(self) -> None:
        while not self.try_acquire():
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # We may have been woken and cancelled at once: pass the wake-up on.
                self._wake()
                raise

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Slot]:
        await self.acquire()
        slot = Slot()
        try:
            yield slot
        finally:
            # Exceptions are not drops by themselves: the caller marks overload with slot.drop().
            self.release(dropped=slot.dropped)
