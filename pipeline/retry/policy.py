"""A retry policy: a wait strategy, a stop strategy, which error classes to retry, and optional
guards shared by every call that uses the policy (retry budget, gRPC throttle, circuit breaker,
concurrency limiter, client-side rate limit).

The retry loop (the worker's, :class:`pipeline.worker.processor.RecordProcessor`) uses it so:

* before every attempt, :meth:`RetryPolicy.admit` (circuit breaker, client rate limit,
  concurrency slot; see :mod:`pipeline.retry.admission`);
* after it, :meth:`RetryPolicy.record` (the outcome feeds the breaker, the throttle and the
  adaptive concurrency limit, and frees what the admission held);
* after a failure, :meth:`RetryPolicy.decide`: :meth:`schedule` (wait + stop + retryable classes,
  pure except for drawing from the policy's RNG) plus the retry guards (gRPC throttle, retry
  budget), withdrawing from the budget when it says yes.

An open circuit breaker is an admission matter only: ``decide`` does not give up because of it
(the next admission refuses, and the worker defers the record until the breaker half-opens).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.retry.admission import GO, QUEUE, Admission, Gate, Ticket
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

    # -- decisions ----------------------------------------------------------------------------
    def schedule(self, state: RetryState) -> RetryDecision:
        """Retry or give up, from the state alone (guards not consulted)."""
        error_class = state.error_class
        if error_class is None or error_class not in self.retry_on:
            return RetryDecision.give_up(f"{error_class} is not retried by this policy")
        limit = self.max_retries_by_class.get(error_class)
        if limit is not None and state.failures_of(error_class) > limit:
            return RetryDecision.give_up(f"{error_class}: at most {limit} retries")
        delay = max(0.0, float(self.wait(state, self.rng)))
        if not math.isfinite(delay):
            return RetryDecision.give_up("infinite delay")
        reason = self.stop.check(state.with_upcoming(delay))
        if reason is not None:
            return RetryDecision.give_up(reason)
        return RetryDecision.after(delay)

    def decide(self, state: RetryState) -> RetryDecision:
        """``schedule`` plus the retry guards; withdraws one retry from the budget when it says yes."""
        decision = self.schedule(state)
        if not decision.retry:
            return decision
        if self.throttle is not None and not self.throttle.allows_retry():
            return RetryDecision.give_up("retries throttled (gRPC token count at or below half)")
        if self.budget is not None and not self.budget.try_withdraw():
            return RetryDecision.give_up("retry budget exhausted")
        return decision

    def breaker_open_for_s(self) -> float:
        """Seconds until an open circuit breaker half-opens (0 when there is none or it is not open)."""
        return 0.0 if self.breaker is None else self.breaker.retry_in_s()

    # -- admission and outcome ----------------------------------------------------------------
    def admit(self, ticket: Ticket) -> Admission:
        """May the ticket's attempt go out now? See :mod:`pipeline.retry.admission`.

        Never blocks; asking again with the same ticket continues where the last answer stopped.
        """
        if ticket.closed or ticket.admitted:
            raise ValueError("a ticket is admitted once; use a new one per attempt")
        breaker = self.breaker
        if breaker is not None:
            refusal = breaker.refusal_s()
            if refusal is not None:
                self._free(ticket)
                ticket.closed = True
                return Admission(Gate.REFUSE, refusal, "circuit breaker open")
        if self.rate_limiter is not None and not ticket.token:
            if not self.rate_limiter.try_take(1.0):
                wait_s = self.rate_limiter.wait_time(1.0)
                if math.isinf(wait_s):
                    raise ValueError("the client rate limit can never admit an attempt")
                return Admission(Gate.WAIT, wait_s, "client rate limit")
            ticket.token = True
        if self.limiter is not None and not ticket.slot:
            if not self.limiter.try_acquire():
                return QUEUE
            ticket.slot = True
        if breaker is not None:
            ticket.probe = breaker.state is BreakerState.HALF_OPEN
            breaker.allow()  # refusal_s() just said it would
        if ticket.first and self.budget is not None:
            self.budget.record_request()
        ticket.admitted = True
        return GO

    async def wait_turn(self, ticket: Ticket) -> None:
        """After a QUEUE admission: wait for a concurrency slot, first come first served; the
        ticket then holds it (ask :meth:`admit` again)."""
        if self.limiter is None or ticket.slot:
            return
        await self.limiter.acquire()
        ticket.slot = True

    def record(self, ticket: Ticket, error_class: ErrorClass | None) -> None:
        """The admitted attempt ended: ``error_class`` None for success, else its failure."""
        self._close(ticket)
        if ticket.slot and self.limiter is not None:
            self.limiter.release(dropped=error_class in PUSHBACK)
        if error_class is None:
            if self.throttle is not None:
                self.throttle.record_success()
            if self.breaker is not None:
                self.breaker.record_success()
            return
        if self.throttle is not None and error_class in self.retry_on:
            self.throttle.record_failure()
        if self.breaker is not None:
            if error_class is ErrorClass.OVERLOAD:
                self.breaker.record_failure()
            else:
                # The server answered (a 4xx / 429 / bad body): it is up, as far as the breaker cares.
                self.breaker.record_success()

    def release(self, ticket: Ticket) -> None:
        """Hand back a ticket whose attempt ended without an outcome (cancelled, or a bug): its
        slot and half-open probe are freed, no guard learns anything. Idempotent."""
        if ticket.closed:
            return
        ticket.closed = True
        self._free(ticket)
        if ticket.probe and self.breaker is not None:
            self.breaker.release_probe()

    def _free(self, ticket: Ticket) -> None:
        if ticket.slot and self.limiter is not None:
            self.limiter.cancel()
        ticket.slot = False

    @staticmethod
    def _close(ticket: Ticket) -> None:
        if not ticket.admitted:
            raise ValueError("only an admitted attempt has an outcome")
        if ticket.closed:
            raise ValueError("an attempt's outcome is recorded once")
        ticket.closed = True
