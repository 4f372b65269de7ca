"""The retry state a policy decides on, and the decision it returns.

The state is plain data (``to_dict`` / ``from_dict``) so a worker that defers a retry to a Kafka
retry topic can carry it in the message and resume the same policy later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pipeline.retry.errors import ErrorClass, Failure


@dataclass(frozen=True, slots=True)
class RetryState:
    """Where a call stands after its latest failed attempt.

    ``attempt_number`` counts attempts made so far (1 after the first failure). ``started_at`` and
    ``now`` come from the same clock (any origin: only differences are used).
    """

    attempt_number: int
    started_at: float
    now: float
    error_class: ErrorClass | None = None
    retry_after_s: float | None = None
    prev_delay_s: float | None = None
    """The delay slept before the latest attempt (decorrelated jitter grows from it)."""
    failures_by_class: Mapping[str, int] = field(default_factory=dict)
    upcoming_delay_s: float | None = None
    """Set by the policy while it decides: the delay it is about to propose (for look-ahead stops)."""

    @property
    def elapsed_s(self) -> float:
        return max(0.0, self.now - self.started_at)

    def failures_of(self, error_class: ErrorClass) -> int:
        return int(self.failures_by_class.get(str(error_class), 0))

    @classmethod
    def first_failure(cls, failure: Failure, *, started_at: float, now: float) -> RetryState:
        """The state after attempt 1 failed."""
        return cls(
            attempt_number=1,
            started_at=started_at,
            now=now,
            error_class=failure.error_class,
            retry_after_s=failure.retry_after_s,
            failures_by_class={str(failure.error_class): 1},
        )

    def after_failure(self, failure: Failure, *, now: float, delay_s: float | None) -> RetryState:
        """The state after one more attempt failed; ``delay_s`` is what was slept before it."""
        counts = dict(self.failures_by_class)
        key = str(failure.error_class)
        counts[key] = counts.get(key, 0) + 1
        return replace(
            self,
            attempt_number=self.attempt_number + 1,
            now=now,
            error_class=failure.error_class,
            retry_after_s=failure.retry_after_s,
            prev_delay_s=delay_s,
            failures_by_class=counts,
            upcoming_delay_s=None,
        )

    def with_upcoming(self, delay_s: float) -> RetryState:
        return replace(self, upcoming_delay_s=delay_s)

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempt_number": self.attempt_number,
            "started_at": self.started_at,
            "now": self.now,
            "error_class": None if self.error_class is None else str(self.error_class),
            "retry_after_s": self.retry_after_s,
            "prev_delay_s": self.prev_delay_s,
            "failures_by_class": dict(self.failures_by_class),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RetryState:
        error_class = data.get("error_class")
        return cls(
            attempt_number=int(data["attempt_number"]),
            started_at=float(data["started_at"]),
            now=float(data["now"]),
            error_class=None if error_class is None else ErrorClass(error_class),
            retry_after_s=data.get("retry_after_s"),
            prev_delay_s=data.get("prev_delay_s"),
            failures_by_class=dict(data.get("failures_by_class") or {}),
        )


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Retry after ``delay_s`` seconds, or give up for ``reason``."""

    retry: bool
    delay_s: float = 0.0
    reason: str = ""

    @classmethod
    def give_up(cls, reason: str) -> RetryDecision:
        return cls(retry=False, delay_s=0.0, reason=reason)

    @classmethod
    def after(cls, delay_s: float, reason: str = "retry") -> RetryDecision:
        return cls(retry=True, delay_s=max(0.0, delay_s), reason=reason)
