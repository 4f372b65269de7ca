"""A circuit breaker: closed -> open -> half-open -> closed (or back to open).

* closed: calls pass; ``failure_threshold`` consecutive failures open the circuit.
* open: calls are refused until ``open_s`` has passed, then the circuit is half-open.
* half-open: up to ``half_open_max_calls`` probe calls pass; that many successes close the
  circuit, any failure opens it again for another ``open_s``.

Every call that ``allow()`` admitted must be followed by ``record_success()`` or
``record_failure()``, or ``release_probe()`` if it ended without an outcome, else half-open probes
leak (``RetryPolicy.record`` / ``RetryPolicy.release`` do this).
"""

from __future__ import annotations

import enum
import logging

from pipeline.retry.clock import Clock, monotonic

log = logging.getLogger(__name__)


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int,
        open_s: float,
        *,
        half_open_max_calls: int = 1,
        clock: Clock = monotonic,
        name: str = "llm",
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if open_s <= 0:
            raise ValueError("open_s must be > 0")
        if half_open_max_calls < 1:
            raise ValueError("half_open_max_calls must be >= 1")
        self.failure_threshold = failure_threshold
        self.open_s = open_s
        self.half_open_max_calls = half_open_max_calls
        self.name = name
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._consecutive_failures = 0
        self._opened_at = 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0
        self.transitions: list[tuple[float, BreakerState]] = []

    def _move(self, state: BreakerState) -> None:
        if state is self._state:
            return
        log.info("circuit breaker %s: %s -> %s", self.name, self._state, state)
        self._state = state
        self.transitions.append((self._clock(), state))
        if state is BreakerState.OPEN:
            self._opened_at = self._clock()
        if state is BreakerState.HALF_OPEN:
            self._probes_in_flight = 0
            self._probe_successes = 0
        if state is BreakerState.CLOSED:
            self._consecutive_failures = 0

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.open_s:
            self._move(BreakerState.HALF_OPEN)
        return self._state

    def retry_in_s(self) -> float:
        """Seconds until an open circuit turns half-open (0 if not open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.open_s - self._clock())

    def refusal_s(self) -> float | None:
        """None if :meth:`allow` would admit a call now (without taking a probe); else the seconds
        until it may (0.0 while half-open with every probe out)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return None
        if state is BreakerState.OPEN:
            return self.retry_in_s()
        if self._probes_in_flight + self._probe_successes < self.half_open_max_calls:
            return None
        return 0.0

    def release_probe(self) -> None:
        """A half-open probe ended without an outcome (cancelled, or a bug): free its place."""
        if self.state is BreakerState.HALF_OPEN:
            self._probes_in_flight = max(0, self._probes_in_flight - 1)

    def allow(self) -> bool:
        """May a call go out now? In half-open, admitting a call makes it a probe."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN:
            return False
        if self._probes_in_flight + self._probe_successes < self.half_open_max_calls:
            self._probes_in_flight += 1
            return True
        return False

    def record_success(self) -> None:
        state = self.state
        if state is BreakerState.HALF_OPEN:
            self._probes_in_flight = max(0, self._probes_in_flight - 1)
            self._probe_successes += 1
            if self._probe_successes >= self.half_open_max_calls:
                self._move(BreakerState.CLOSED)
        else:
            self._consecutive_failures = 0

    def record_failure(self) -> None:
        state = self.state
        if state is BreakerState.HALF_OPEN:
            self._move(BreakerState.OPEN)
            return
        if state is BreakerState.CLOSED:
            self._consecutive_failures += 1
            if self._consecutive_failures >= self.failure_threshold:
                self._move(BreakerState.OPEN)
