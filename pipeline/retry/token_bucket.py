"""A token bucket with an injected clock.

Used client-side (a request rate limit in a retry policy) and server-side (the simulator's
requests-per-minute and tokens-per-minute limits, whose Retry-After and x-ratelimit-reset-*
headers come from :meth:`TokenBucket.wait_time` and :meth:`TokenBucket.time_until_full`).
"""

from __future__ import annotations

import math

from pipeline.retry.clock import Clock, Sleep, monotonic, real_sleep


class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``refill_per_s``; starts full."""

    def __init__(
        self,
        capacity: float,
        refill_per_s: float,
        *,
        clock: Clock = monotonic,
        initial: float | None = None,
    ) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be > 0")
        if refill_per_s < 0:
            raise ValueError("refill_per_s must be >= 0")
        self.capacity = float(capacity)
        self.refill_per_s = float(refill_per_s)
        self._clock = clock
        self._tokens = self.capacity if initial is None else min(float(initial), self.capacity)
        self._updated = clock()

    def _refill(self) -> float:
        now = self._clock()
        elapsed = now - self._updated
        if elapsed > 0:
            self._tokens = min(self.capacity, self._tokens + elapsed * self.refill_per_s)
            self._updated = now
        return now

    @property
    def available(self) -> float:
        self._refill()
        return self._tokens

    def try_take(self, n: float = 1.0) -> bool:
        """Take ``n`` tokens if they are there; never blocks."""
        self._refill()
        if self._tokens >= n:
            self._tokens -= n
            return True
        return False

    def wait_time(self, n: float = 1.0) -> float:
        """Seconds until ``n`` tokens are available (0 if now; inf if never)."""
        self._refill()
        deficit = n - self._tokens
        if deficit <= 0:
            return 0.0
        if n > self.capacity or self.refill_per_s == 0:
            return math.inf
        return deficit / self.refill_per_s

    def time_until_full(self) -> float:
        """Seconds until the bucket is back to capacity (OpenAI's x-ratelimit-reset-* meaning)."""
        self._refill()
        if self.refill_per_s == 0:
            return 0.0 if self._tokens >= self.capacity else math.inf
        return (self.capacity - self._tokens) / self.refill_per_s

    async def take(self, n: float = 1.0, *, sleep: Sleep = real_sleep) -> float:
        """Wait until ``n`` tokens can be taken, take them, and return the seconds waited."""
        waited = 0.0
        while not self.try_take(n):
            delay = self.wait_time(n)
            if math.isinf(delay):
                raise ValueError(f"{n} tokens exceed the bucket's capacity {self.capacity}")
            await sleep(delay)
            waited += delay
        return waited
