"""Retry policies as data: a flat, JSON-able spec (a pydantic model), its JSON schema, the builder.

The model is flat on purpose: every field maps one-to-one onto an Airflow trigger-form field
(each has a title, description, type, bounds or enum, and a default). Example::

    {"kind": "exponential_jitter", "jitter": "full", "base_s": 0.1, "multiplier": 2, "cap_s": 10,
     "max_attempts": 5, "max_elapsed_s": 60, "retry_after": "obey"}

Missing fields take their defaults; unknown fields and out-of-range values raise
:class:`PolicySpecError` (the one :class:`pipeline.spec_model.SpecError`), which names the field.
The experiment spec's retry section is this model plus one field, so its form shows these bounds.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from pipeline.retry.breaker import CircuitBreaker
from pipeline.retry.budget import RetryBudget
from pipeline.retry.clock import Clock, monotonic
from pipeline.retry.concurrency import AIMDLimit, ConcurrencyLimiter, FixedLimit
from pipeline.retry.errors import ErrorClass
from pipeline.retry.policy import RetryPolicy
from pipeline.retry.stop import StopAfterAttempt, StopBase, StopBeforeElapsed
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
    WaitRetryAfter,
)
from pipeline.spec_model import SpecError, SpecModel, form_schema, one_of, rule, validate_model

Kind = Literal["none", "fixed", "exponential", "exponential_jitter"]
Jitter = Literal["none", "full", "equal", "decorrelated"]
RetryAfterMode = Literal["obey", "exact", "ignore"]
ConcurrencyKind = Literal["unlimited", "fixed", "aimd"]
KINDS: tuple[str, ...] = get_args(Kind)
JITTERS: tuple[str, ...] = get_args(Jitter)
RETRY_AFTER_MODES: tuple[str, ...] = get_args(RetryAfterMode)
CONCURRENCY_KINDS: tuple[str, ...] = get_args(ConcurrencyKind)

# The one spec error; the name stays for the callers that catch it.
PolicySpecError = SpecError

RetryClass = one_of(str(c) for c in ErrorClass)


class RetryPolicySpec(SpecModel):
    """A retry policy (docs/errors-and-retries.md#retry-policies). All fields are optional."""

    kind: Kind = Field(
        "exponential_jitter",
        title="Backoff kind",
        description="none: never retry; fixed: base_s between attempts; exponential: base_s * "
        "multiplier^(n-1) capped at cap_s; exponential_jitter: exponential with the jitter below.",
    )
    jitter: Jitter = Field(
        "full",
        title="Jitter",
        description="Only for kind exponential_jitter. full: uniform(0, d); equal: d/2 + "
        "uniform(0, d/2); decorrelated: min(cap, uniform(base, 3 * previous delay)); none: plain "
        "exponential.",
    )
    base_s: float = Field(
        0.1,
        ge=0,
        le=3600,
        title="Base delay (s)",
        description="First backoff delay in seconds (the constant delay for kind fixed).",
    )
    multiplier: float = Field(
        2.0,
        ge=1,
        le=100,
        title="Multiplier",
        description="Growth factor per attempt for exponential kinds.",
    )
    cap_s: float = Field(
        10.0,
        ge=0,
        le=86400,
        title="Delay cap (s)",
        description="Upper bound of any single backoff delay (a server's Retry-After can exceed "
        "it).",
    )
    max_attempts: int = Field(
        5,
        ge=1,
        le=1000,
        title="Max attempts",
        description="Attempts in total, the first one included (1 = no retries).",
    )
    max_elapsed_s: float = Field(
        60.0,
        ge=0,
        le=604800,
        title="Max elapsed (s)",
        description="Give up rather than sleep past this many seconds since the first attempt; "
        "0 = no limit.",
    )
    retry_after: RetryAfterMode = Field(
        "obey",
        title="Retry-After",
        description="obey: wait at least the server's Retry-After / retry-after-ms / "
        "x-ratelimit-reset hint; exact: wait exactly the hint when present; ignore: use the "
        "backoff delay only.",
    )
    retry_on: list[RetryClass] = Field(
        [str(ErrorClass.OVERLOAD), str(ErrorClass.RATE_LIMITED), str(ErrorClass.BAD_COMPLETION)],
        title="Retry on",
        description="Error classes retried by this policy; others give up at once (see docs/errors-and-retries.md).",
        json_schema_extra={"uniqueItems": True},
    )
    bad_completion_retries: int = Field(
        1,
        ge=0,
        le=10,
        title="Bad-completion retries",
        description="Retries allowed for empty or unparseable completions.",
    )
    budget_ratio: float = Field(
        0.0,
        ge=0,
        le=1,
        title="Retry budget ratio",
        description="Retries allowed as a share of requests in the budget window "
        "(Finagle/Envoy); 0 = no budget.",
    )
    budget_min_retries_per_s: float = Field(
        10.0,
        ge=0,
        le=100000,
        title="Retry budget floor (retries/s)",
        description="Retries per second always allowed by the budget, whatever the request rate.",
    )
    budget_ttl_s: float = Field(
        10.0,
        ge=0.1,
        le=3600,
        title="Retry budget window (s)",
        description="Sliding window over which the budget counts.",
    )
    throttle_max_tokens: float = Field(
        0.0,
        ge=0,
        le=1000,
        title="Throttle max tokens",
        description="gRPC retry throttling: token count ceiling; retries stop at or below half "
        "of it. 0 = off.",
    )
    throttle_token_ratio: float = Field(
        0.1,
        ge=0.001,
        le=1,
        title="Throttle token ratio",
        description="gRPC retry throttling: tokens given back per success (each failure takes 1).",
    )
    breaker_failure_threshold: int = Field(
        0,
        ge=0,
        le=10000,
        title="Breaker failure threshold",
        description="Consecutive overload failures that open the circuit breaker; 0 = no breaker.",
    )
    breaker_open_s: float = Field(
        30.0,
        ge=0.001,
        le=3600,
        title="Breaker open time (s)",
        description="How long an open breaker refuses calls before half-open.",
    )
    breaker_half_open_max_calls: int = Field(
        1,
        ge=1,
        le=1000,
        title="Breaker probes",
        description="Probe calls let through when half-open; that many successes close the "
        "breaker.",
    )
    concurrency: ConcurrencyKind = Field(
        "unlimited",
        title="Concurrency limit",
        description="unlimited; fixed: at most concurrency_limit calls in flight; aimd: adaptive "
        "limit starting at concurrency_limit (additive increase, multiplicative decrease on "
        "pushback).",
    )
    concurrency_limit: int = Field(
        16,
        ge=1,
        le=10000,
        title="Concurrency limit (initial)",
        description="The fixed limit, or AIMD's starting limit.",
    )
    concurrency_min: int = Field(
        1, ge=1, le=10000, title="AIMD min limit", description="Lower bound of the AIMD limit."
    )
    concurrency_max: int = Field(
        256, ge=1, le=10000, title="AIMD max limit", description="Upper bound of the AIMD limit."
    )
    aimd_increase: float = Field(
        1.0,
        ge=0.01,
        le=100,
        title="AIMD increase",
        description="Added to the limit per success while the limit is in use.",
    )
    aimd_backoff_ratio: float = Field(
        0.5,
        ge=0.1,
        le=0.99,
        title="AIMD backoff ratio",
        description="Limit multiplier on each overload or rate-limit drop.",
    )
    rate_limit_per_s: float = Field(
        0.0,
        ge=0,
        le=100000,
        title="Client rate limit (req/s)",
        description="Token-bucket limit on attempts per second from this client; 0 = off.",
    )
    rate_limit_burst: int = Field(
        10,
        ge=1,
        le=100000,
        title="Client rate limit burst",
        description="Token-bucket capacity for the client rate limit.",
    )

    @field_validator("retry_on")
    @classmethod
    def _each_class_once(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"lists an error class twice: {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RetryPolicySpec:
        if self.kind == "exponential_jitter" and self.jitter == "decorrelated" and self.base_s <= 0:
            raise rule("base_s", "decorrelated jitter needs base_s > 0")
        if self.concurrency == "aimd" and not (
            self.concurrency_min <= self.concurrency_limit <= self.concurrency_max
        ):
            raise rule(
                "concurrency_limit",
                "AIMD needs concurrency_min <= concurrency_limit <= concurrency_max",
            )
        return self


def policy_schema() -> dict[str, Any]:
    """The JSON schema (draft 2020-12) of a retry policy spec. A fresh copy on each call."""
    return {
        **form_schema(RetryPolicySpec),
        "$id": "https://llm-pipeline-harness/schemas/retry-policy.json",
        "title": "Retry policy",
        "description": "How an LLM worker backs off and retries (see docs/errors-and-retries.md). All fields are "
        "optional.",
    }


def default_spec() -> dict[str, Any]:
    """Every field at its default."""
    return RetryPolicySpec().model_dump(mode="json")


def validate_spec(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate ``spec`` and return it with every default filled in (a JSON-able dict)."""
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise PolicySpecError("$", f"expected an object, got {type(spec).__name__}")
    return validate_model(RetryPolicySpec, dict(spec)).model_dump(mode="json")


def _build_wait(spec: Mapping[str, Any]) -> WaitBase:
    kind, jitter = spec["kind"], spec["jitter"]
    base, mult, cap = float(spec["base_s"]), float(spec["multiplier"]), float(spec["cap_s"])
    wait: WaitBase
    if kind == "none":
        wait = WaitNone()
    elif kind == "fixed":
        wait = WaitFixed(min(base, cap))
    elif kind == "exponential" or jitter == "none":
        wait = WaitExponential(base, mult, cap)
    elif jitter == "full":
        wait = WaitFullJitter(base, mult, cap)
    elif jitter == "equal":
        wait = WaitEqualJitter(base, mult, cap)
    else:
        wait = WaitDecorrelatedJitter(base, cap)
    return WaitRetryAfter(wait, spec["retry_after"])


def _build_stop(spec: Mapping[str, Any]) -> StopBase:
    max_attempts = 1 if spec["kind"] == "none" else int(spec["max_attempts"])
    stop: StopBase = StopAfterAttempt(max_attempts)
    if spec["max_elapsed_s"] > 0:
        stop = stop | StopBeforeElapsed(float(spec["max_elapsed_s"]))
    return stop


def build_policy(
    spec: Mapping[str, Any] | None = None,
    *,
    clock: Clock = monotonic,
    rng: random.Random | int | None = None,
) -> RetryPolicy:
    """Validate ``spec`` and build a :class:`RetryPolicy` (its guards share ``clock``).

    ``rng`` is a ``random.Random``, or a seed for one; None seeds from the OS (not reproducible).
    """
    full = validate_spec(spec)
    if not isinstance(rng, random.Random):
        rng = random.Random(rng)
    limiter = None
    if full["concurrency"] == "fixed":
        limiter = ConcurrencyLimiter(FixedLimit(full["concurrency_limit"]))
    elif full["concurrency"] == "aimd":
        limiter = ConcurrencyLimiter(
            AIMDLimit(
                full["concurrency_limit"],
                min_limit=full["concurrency_min"],
                max_limit=full["concurrency_max"],
                increase=full["aimd_increase"],
                backoff_ratio=full["aimd_backoff_ratio"],
            )
        )
    return RetryPolicy(
        wait=_build_wait(full),
        stop=_build_stop(full),
        retry_on=frozenset(ErrorClass(c) for c in full["retry_on"]),
        max_retries_by_class={ErrorClass.BAD_COMPLETION: int(full["bad_completion_retries"])},
        budget=(
            RetryBudget(
                full["budget_ratio"],
                min_retries_per_s=full["budget_min_retries_per_s"],
                ttl_s=full["budget_ttl_s"],
                clock=clock,
            )
            if full["budget_ratio"] > 0
            else None
        ),
        throttle=(
            RetryThrottle(full["throttle_max_tokens"], full["throttle_token_ratio"])
            if full["throttle_max_tokens"] > 0
            else None
        ),
        breaker=(
            CircuitBreaker(
                full["breaker_failure_threshold"],
                full["breaker_open_s"],
                half_open_max_calls=full["breaker_half_open_max_calls"],
                clock=clock,
            )
            if full["breaker_failure_threshold"] > 0
            else None
        ),
        limiter=limiter,
        rate_limiter=(
            TokenBucket(full["rate_limit_burst"], full["rate_limit_per_s"], clock=clock)
            if full["rate_limit_per_s"] > 0
            else None
        ),
        rng=rng,
        spec=full,
    )

