"""Stop strategies: when to give up (after tenacity's stop.py).

A stop is checked with the policy's proposed next delay already in ``state.upcoming_delay_s``;
``check`` returns the reason to stop, or None. Stops compose: ``stop_a | stop_b`` stops when either
does, ``stop_a & stop_b`` when both do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from pipeline.retry.state import RetryState


class StopBase(ABC):
    @abstractmethod
    def check(self, state: RetryState) -> str | None:
        """The reason to stop now, or None to go on."""

    def __call__(self, state: RetryState) -> bool:
        return self.check(state) is not None

    def __or__(self, other: StopBase) -> StopBase:
        return StopAny(self, other)

    def __and__(self, other: StopBase) -> StopBase:
        return StopAll(self, other)


class StopNever(StopBase):
    def check(self, state: RetryState) -> str | None:
        return None


class StopAfterAttempt(StopBase):
    """Stop once ``max_attempts`` attempts (the first one included) have been made."""

    def __init__(self, max_attempts: int) -> None:
        self.max_attempts = max_attempts

    def check(self, state: RetryState) -> str | None:
        if state.attempt_number >= self.max_attempts:
            return f"max_attempts ({self.max_attempts}) reached"
        return None


class StopAfterElapsed(StopBase):
    """Stop once ``max_elapsed_s`` has passed since the first attempt."""

    def __init__(self, max_elapsed_s: float) -> None:
        self.max_elapsed_s = max_elapsed_s

    def check(self, state: RetryState) -> str | None:
        if state.elapsed_s >= self.max_elapsed_s:
            return f"max_elapsed_s ({self.max_elapsed_s:g}) reached"
        return None


class StopBeforeElapsed(StopBase):
    """Stop if sleeping the upcoming delay would end past ``max_elapsed_s`` (look-ahead).

    Unlike :class:`StopAfterElapsed`, this never sleeps into a deadline it cannot meet.
    """

    def __init__(self, max_elapsed_s: float) -> None:
        self.max_elapsed_s = max_elapsed_s

    def check(self, state: RetryState) -> str | None:
        upcoming = state.upcoming_delay_s or 0.0
        if state.elapsed_s + upcoming > self.max_elapsed_s:
            return f"max_elapsed_s ({self.max_elapsed_s:g}) would be exceeded"
        return None


class StopAny(StopBase):
    def __init__(self, *stops: StopBase) -> None:
        self.stops = stops

    def check(self, state: RetryState) -> str | None:
        for stop in self.stops:
            reason = stop.check(state)
            if reason is not None:
                return reason
        return None


class StopAll(StopBase):
    def __init__(self, *stops: StopBase) -> None:
        self.stops = stops

    def check(self, state: RetryState) -> str | None:
        reasons = [stop.check(state) for stop in self.stops]
        if all(reason is not None for reason in reasons):
            return " and ".join(r for r in reasons if r)
        return None


stop_never = StopNever
stop_after_attempt = StopAfterAttempt
stop_after_elapsed = StopAfterElapsed
stop_before_elapsed = StopBeforeElapsed
