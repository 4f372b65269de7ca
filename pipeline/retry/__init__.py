"""Retry policies as data: composable strategies, guards, and the admission/outcome API the
worker's retry loop (:mod:`pipeline.worker.processor`) is built on.

Public surface::

    from pipeline.retry import Ticket, build_policy, policy_schema

    policy = build_policy({"kind": "exponential_jitter", "jitter": "full", "base_s": 0.1})
    ticket = Ticket(first=True)
    admission = policy.admit(ticket)   # GO / WAIT (rate limit) / QUEUE (concurrency) / REFUSE (breaker)
    policy.record(ticket, error_class) # after the attempt: None for success
    decision = policy.decide(state)    # after a failure: retry after delay_s, or give up
"""

from pipeline.retry.admission import Admission, Gate, Ticket
from pipeline.retry.breaker import BreakerState, CircuitBreaker
from pipeline.retry.budget import RetryBudget
from pipeline.retry.clock import Clock, FakeClock, Sleep
from pipeline.retry.concurrency import AIMDLimit, ConcurrencyLimiter, FixedLimit
from pipeline.retry.errors import ClassifiedError, ErrorClass, Failure
from pipeline.retry.policy import RetryPolicy
from pipeline.retry.spec import (
    PolicySpecError,
    build_policy,
    default_spec,
    policy_schema,
    validate_spec,
)
from pipeline.retry.state import RetryDecision, RetryState
from pipeline.retry.stop import (
    StopAfterAttempt,
    StopAfterElapsed,
    StopBase,
    StopBeforeElapsed,
    StopNever,
)
from pipeline.retry.throttle import RetryThrottle
from pipeline.retry.token_bucket import TokenBucket
from pipeline.retry.wait import (
    WaitBase,
    WaitDecorrelatedJitter,
    WaitEqualJitter,
    WaitExponential,
    WaitFixed,
    WaitFullJitter,
    WaitNone,
    WaitRandom,
    WaitRetryAfter,
)

__all__ = [
    "AIMDLimit",
    "Admission",
    "BreakerState",
    "CircuitBreaker",
    "ClassifiedError",
    "Clock",
    "ConcurrencyLimiter",
    "ErrorClass",
    "Failure",
    "FakeClock",
    "FixedLimit",
    "Gate",
    "PolicySpecError",
    "RetryBudget",
    "RetryDecision",
    "RetryPolicy",
    "RetryState",
    "RetryThrottle",
    "Sleep",
    "StopAfterAttempt",
    "StopAfterElapsed",
    "StopBase",
    "StopBeforeElapsed",
    "StopNever",
    "Ticket",
    "TokenBucket",
    "WaitBase",
    "WaitDecorrelatedJitter",
    "WaitEqualJitter",
    "WaitExponential",
    "WaitFixed",
    "WaitFullJitter",
    "WaitNone",
    "WaitRandom",
    "WaitRetryAfter",
    "build_policy",
    "default_spec",
    "policy_schema",
    "validate_spec",
]
