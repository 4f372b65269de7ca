"""``call_with_retries``: the asyncio retry loop that owns every attempt and records it.

The loop, per attempt: circuit breaker admission -> client rate limit -> concurrency slot ->
``await fn()`` -> classify -> guards updated -> ``policy.decide`` -> sleep (injected) or give up.
It never raises for a classified failure: the caller gets a :class:`RetryResult` with the value or
the last error, every attempt, and (on give-up) the state a worker needs to defer the retry.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pipeline.retry.clock import Clock, Sleep, monotonic, real_sleep
from pipeline.retry.errors import ClassifiedError, ErrorClass, Failure, classify_exception
from pipeline.retry.policy import PUSHBACK, RetryPolicy
from pipeline.retry.state import RetryDecision, RetryState

log = logging.getLogger(__name__)

T = TypeVar("T")
Classifier = Callable[[BaseException], Failure | None]


class CircuitOpenError(ClassifiedError):
    """No attempt was made: the circuit breaker refused it."""


@dataclass(frozen=True, slots=True)
class RetryAttempt:
    """One attempt as the retry loop saw it (``detail`` carries e.g. the LLM client's record)."""

    number: int
    started_at: float
    ended_at: float
    error_class: ErrorClass | None
    """None when the attempt succeeded."""
    retry_after_s: float | None = None
    delay_after_s: float | None = None
    """Seconds slept after this attempt before the next one (None for the last)."""
    error: str | None = None
    detail: Any = None

    @property
    def ok(self) -> bool:
        return self.error_class is None


@dataclass
class RetryResult(Generic[T]):
    value: T | None = None
    error: BaseException | None = None
    attempts: list[RetryAttempt] = field(default_factory=list)
    gave_up_reason: str | None = None
    state: RetryState | None = None
    """The retry state after the last failure (to resume the policy elsewhere)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def error_class(self) -> ErrorClass | None:
        """The class of the last failure (None on success)."""
        if isinstance(self.error, ClassifiedError):
            return self.error.error_class
        return self.attempts[-1].error_class if self.attempts else None

    def unwrap(self) -> T:
        """The value, or raise the last error."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


def _attempt_detail(exc: BaseException | None, value: Any) -> Any:
    source = exc if exc is not None else value
    return getattr(source, "attempt", None)


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    classify: Classifier = classify_exception,
    clock: Clock = monotonic,
    sleep: Sleep = real_sleep,
    state: RetryState | None = None,
) -> RetryResult[T]:
    """Call ``fn`` until it succeeds or ``policy`` gives up.

    ``classify`` maps an exception to a :class:`Failure`; exceptions it returns None for are bugs
    and propagate unchanged (as does cancellation). Pass ``state`` to resume a call whose earlier
    attempts happened elsewhere (e.g. before a Kafka deferral); it then counts as a retry, not a
    new request, for the budget.
    """
    result: RetryResult[T] = RetryResult(state=state)
    started_at = clock() if state is None else state.started_at
    number = 0 if state is None else state.attempt_number
    prev_delay: float | None = None
    if state is None:
        policy.record_request()

    while True:
        number += 1
        if policy.breaker is not None and not policy.breaker.allow():
            wait_s = policy.breaker.retry_in_s()
            refusal = Failure(ErrorClass.OVERLOAD, retry_after_s=wait_s or None)
            result.error = CircuitOpenError("circuit breaker open: no attempt made", refusal)
            result.gave_up_reason = "circuit breaker open"
            log.debug("attempt %d refused: circuit breaker open", number)
            return result
        if policy.rate_limiter is not None:
            await policy.rate_limiter.take(1.0, sleep=sleep)

        attempt_start = clock()
        value: T | None = None
        error: BaseException | None = None
        failure: Failure | None = None
        if policy.limiter is not None:
            async with policy.limiter.slot() as slot:
                try:
                    value = await fn()
                except Exception as exc:
                    failure = classify(exc)
                    if failure is None:
                        raise
                    error = exc
                    if failure.error_class in PUSHBACK:
                        slot.drop()
        else:
            try:
                value = await fn()
            except Exception as exc:
                failure = classify(exc)
                if failure is None:
                    raise
                error = exc
        attempt_end = clock()

        if failure is None:
            policy.record_success()
            result.attempts.append(
                RetryAttempt(number, attempt_start, attempt_end, None, detail=_attempt_detail(None, value))
            )
            result.value, result.error, result.gave_up_reason = value, None, None
            return result

        policy.record_failure(failure.error_class)
        if result.state is None:
            result.state = RetryState.first_failure(failure, started_at=started_at, now=attempt_end)
        else:
            result.state = result.state.after_failure(failure, now=attempt_end, delay_s=prev_delay)
        decision: RetryDecision = policy.decide(result.state)
        delay = decision.delay_s if decision.retry else None
        if delay is not None and not math.isfinite(delay):
            decision, delay = RetryDecision.give_up("infinite delay"), None
        result.attempts.append(
            RetryAttempt(
                number,
                attempt_start,
                attempt_end,
                failure.error_class,
                retry_after_s=failure.retry_after_s,
                delay_after_s=delay,
                error=f"{type(error).__name__}: {error}",
                detail=_attempt_detail(error, None),
            )
        )
        result.error = error
        if not decision.retry:
            result.gave_up_reason = decision.reason
            log.debug("giving up after attempt %d: %s", number, decision.reason)
            return result
        log.debug("attempt %d failed (%s); retrying in %.3fs", number, failure.error_class, delay)
        prev_delay = delay
        await sleep(delay or 0.0)
