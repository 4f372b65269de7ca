"""Retry policies as data, composable strategies, guards, and the asyncio retry loop.

Public surface::

    from pipeline.retry import build_policy, policy_schema, call_with_retries, RetryState

    policy = build_policy({"kind": "exponential_jitter", "jitter": "full", "base_s": 0.1})
    result = await call_with_retries(lambda: client.complete(prompt), policy)
    decision = policy.decide(state)   # pure decision API for Kafka-deferred retries
"""

from pipeline.retry.breaker import BreakerState, CircuitBreaker
from pipeline.retry.budget import RetryBudget
from pipeline.retry.clock import Clock, FakeClock, Sleep
from pipeline.retry.concurrency import AIMDLimit, ConcurrencyLimiter, FixedLimit
from pipeline.retry.errors import ClassifiedError, ErrorClass, Failure, classify_exception
from pipeline.retry.policy import RetryPolicy
from pipeline.retry.runner import CircuitOpenError, RetryAttempt, RetryResult, call_with_retries
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
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
    "ClassifiedError",
    "Clock",
    "ConcurrencyLimiter",
    "ErrorClass",
    "Failure",
    "FakeClock",
    "FixedLimit",
    "PolicySpecError",
    "RetryAttempt",
    "RetryBudget",
    "RetryDecision",
    "RetryPolicy",
    "RetryResult",
    "RetryState",
    "RetryThrottle",
    "Sleep",
    "StopAfterAttempt",
    "StopAfterElapsed",
    "StopBase",
    "StopBeforeElapsed",
    "StopNever",
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
    "call_with_retries",
    "classify_exception",
    "default_spec",
    "policy_schema",
    "validate_spec",
]
