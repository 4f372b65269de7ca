"""A retry policy: a wait strategy, a stop strategy, which error classes to retry, and optional
guards shared by every call that uses the policy (retry budget, gRPC throttle, circuit breaker,
concurrency limiter, client-side rate limit).

Two ways to use it:

* :meth:`RetryPolicy.schedule` is the pure decision (wait + stop + retryable classes): no side
  effects except drawing from the policy's RNG;
* :meth:`RetryPolicy.decide` is ``schedule`` plus the guards: it may refuse a retry the schedule
  allows (breaker open, throttled, budget spent) and it withdraws from the retry budget when it
  says yes. Workers that defer retries to Kafka retry topics call ``decide`` once per failure.

Outcomes feed the guards through :meth:`record_request`, :meth:`record_success` and
:meth:`record_failure` (``call_with_retries`` calls them).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.retry.breaker import BreakerState, CircuitBreaker
from pipeline.retry.budget import RetryBudget
from pipeline.retry.concurrency import ConcurrencyLimiter
from pipeline.retry.errors import ErrorClass
from pipeline.retry.state import RetryDecision, RetryState
from pipeline.retry.stop import StopBase
from pipeline.retry.throttle import RetryThrottle
from pipeline.retry.token_bucket import TokenBucket
from pipeline.retry.wait import WaitBase

DEFAULT_RETRY_ON: frozenset[ErrorClass] = frozenset(
    {ErrorClass.OVERLOAD, ErrorClass.RATE_LIMITED, ErrorClass.BAD_COMPLETION}
)

# Failures that mean "the dependency is pushing back": they trip the breaker and shrink AIMD.
PUSHBACK: frozenset[ErrorClass] = frozenset({ErrorClass.OVERLOAD, ErrorClass.RATE_LIMITED})


@dataclass
class RetryPolicy:
    wait: WaitBase
    stop: StopBase
    retry_on: frozenset[ErrorClass] = DEFAULT_RETRY_ON
    max_retries_by_class: Mapping[ErrorClass, int] = field(
        default_factory=lambda: {ErrorClass.BAD_COMPLETION: 1}
    )
    budget: RetryBudget | None = None
    throttle: RetryThrottle | None = None
    breaker: CircuitBreaker | None = None
    limiter: ConcurrencyLimiter | None = None
    rate_limiter: TokenBucket | None = None
    rng: random.Random = field(default_factory=random.Random)
    spec: Mapping[str, Any] | None = None
    """The normalised spec this policy was built from, if any (for reports)."""

    def schedule(self, state: RetryState) -> RetryDecision:
        """Retry or give up, from the state alone (guards not consulted)."""
        error_class = state.error_class
        if error_class is None or error_class not in self.retry_on:
            return RetryDecision.give_up(f"{error_class} is not retried by this policy")
        limit = self.max_retries_by_class.get(error_class)
        if limit is not None and state.failures_of(error_class) > limit:
            return RetryDecision.give_up(f"{error_class}: at most {limit} retries")
        delay = max(0.0, float(self.wait(state, self.rng)))
        reason = self.stop.check(state.with_upcoming(delay))
        if reason is not None:
            return RetryDecision.give_up(reason)
        return RetryDecision.after(delay)

    def decide(self, state: RetryState) -> RetryDecision:
        """``schedule`` plus the guards; withdraws one retry from the budget when it says yes."""
        decision = self.schedule(state)
        if not decision.retry:
            return decision
        if self.breaker is not None and self.breaker.state is BreakerState.OPEN:
            return RetryDecision.give_up("circuit breaker open")
        if self.throttle is not None and not self.throttle.allows_retry():
            return RetryDecision.give_up("retries throttled (gRPC token count at or below half)")
        if self.budget is not None and not self.budget.try_withdraw():
            return RetryDecision.give_up("retry budget exhausted")
        return decision

    def record_request(self) -> None:
        """One logical call starts (its first attempt): a deposit into the retry budget."""
        if self.budget is not None:
            self.budget.record_request()

    def record_success(self) -> None:
        if self.throttle is not None:
            self.throttle.record_success()
        if self.breaker is not None:
            self.breaker.record_success()

    def record_failure(self, error_class: ErrorClass) -> None:
        if self.throttle is not None and error_class in self.retry_on:
            self.throttle.record_failure()
        if self.breaker is not None:
            if error_class is ErrorClass.OVERLOAD:
                self.breaker.record_failure()
            else:
                # The server answered (a 4xx / 429 / bad body): it is up, as far as the breaker cares.
                self.breaker.record_success()
