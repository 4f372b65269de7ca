"""Retry budgets (Finagle's RetryBudget, Envoy's retry_budget): retries as a share of traffic.

Within a sliding window of ``ttl_s`` seconds, retries are allowed while::

    retries_in_window < min_retries_per_s * ttl_s + ratio * requests_in_window

so a healthy client may always retry a little (the floor), and a client whose calls are failing
cannot multiply the load on its dependency by more than ``1 + ratio``.
"""

from __future__ import annotations

from collections import deque

from pipeline.retry.clock import Clock, monotonic


class RetryBudget:
    def __init__(
        self,
        ratio: float,
        *,
        min_retries_per_s: float = 10.0,
        ttl_s: float = 10.0,
        clock: Clock = monotonic,
    ) -> None:
        if not 0 <= ratio <= 1:
            raise ValueError("ratio must be within [0, 1]")
        if ttl_s <= 0:
            raise ValueError("ttl_s must be > 0")
        self.ratio = ratio
        self.min_retries_per_s = min_retries_per_s
        self.ttl_s = ttl_s
        self._clock = clock
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()

    def _prune(self) -> float:
        now = self._clock()
        horizon = now - self.ttl_s
        for stamps in (self._requests, self._retries):
            while stamps and stamps[0] <= horizon:
                stamps.popleft()
        return now

    def record_request(self) -> None:
        """Deposit: one original (non-retry) request was made."""
        self._requests.append(self._prune())

    @property
    def allowance(self) -> float:
        """Retries the window allows in total (used or not)."""
        self._prune()
        return self.min_retries_per_s * self.ttl_s + self.ratio * len(self._requests)

    @property
    def balance(self) -> float:
        """Retries still allowed in the current window."""
        return self.allowance - len(self._retries)

    def try_withdraw(self) -> bool:
        """Spend one retry if the budget allows it."""
        now = self._prune()
        if len(self._retries) + 1 <= self.min_retries_per_s * self.ttl_s + self.ratio * len(
            self._requests
        ):
            self._retries.append(now)
            return True
        return False
