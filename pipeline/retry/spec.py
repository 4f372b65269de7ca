"""Retry policies as data: a flat, JSON-able spec, its JSON schema, and the builder.

The schema is flat on purpose: every property maps one-to-one onto an Airflow trigger-form field
(each has a title, description, type, bounds or enum, and a default). Example::

    {"kind": "exponential_jitter", "jitter": "full", "base_s": 0.1, "multiplier": 2, "cap_s": 10,
     "max_attempts": 5, "max_elapsed_s": 60, "retry_after": "obey"}

Missing properties take their defaults; unknown properties and out-of-range values raise
:class:`PolicySpecError`, which names the field.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from typing import Any

import jsonschema

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

KINDS = ("none", "fixed", "exponential", "exponential_jitter")
JITTERS = ("none", "full", "equal", "decorrelated")
RETRY_AFTER_MODES = ("obey", "exact", "ignore")
CONCURRENCY_KINDS = ("unlimited", "fixed", "aimd")


class PolicySpecError(ValueError):
    """An invalid retry policy spec; ``field`` names the offending property."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"retry policy spec: field {field!r}: {message}")
        self.field = field


def _num(title: str, description: str, default: float, minimum: float, maximum: float) -> dict:
    return {
        "title": title,
        "description": description,
        "type": "number",
        "minimum": minimum,
        "maximum": maximum,
        "default": default,
    }


def _int(title: str, description: str, default: int, minimum: int, maximum: int) -> dict:
    return {
        "title": title,
        "description": description,
        "type": "integer",
        "minimum": minimum,
        "maximum": maximum,
        "default": default,
    }


def _enum(title: str, description: str, default: str, values: tuple[str, ...]) -> dict:
    return {
        "title": title,
        "description": description,
        "type": "string",
        "enum": list(values),
        "default": default,
    }


_PROPERTIES: dict[str, dict[str, Any]] = {
    "kind": _enum(
        "Backoff kind",
        "none: never retry; fixed: base_s between attempts; exponential: base_s * multiplier^(n-1) "
        "capped at cap_s; exponential_jitter: exponential with the jitter below.",
        "exponential_jitter",
        KINDS,
    ),
    "jitter": _enum(
        "Jitter",
        "Only for kind exponential_jitter. full: uniform(0, d); equal: d/2 + uniform(0, d/2); "
        "decorrelated: min(cap, uniform(base, 3 * previous delay)); none: plain exponential.",
        "full",
        JITTERS,
    ),
    "base_s": _num(
        "Base delay (s)",
        "First backoff delay in seconds (the constant delay for kind fixed).",
        0.1,
        0,
        3600,
    ),
    "multiplier": _num(
        "Multiplier", "Growth factor per attempt for exponential kinds.", 2.0, 1, 100
    ),
    "cap_s": _num(
        "Delay cap (s)",
        "Upper bound of any single backoff delay (a server's Retry-After can exceed it).",
        10.0,
        0,
        86400,
    ),
    "max_attempts": _int(
        "Max attempts", "Attempts in total, the first one included (1 = no retries).", 5, 1, 1000
    ),
    "max_elapsed_s": _num(
        "Max elapsed (s)",
        "Give up rather than sleep past this many seconds since the first attempt; 0 = no limit.",
        60.0,
        0,
        604800,
    ),
    "retry_after": _enum(
        "Retry-After",
        "obey: wait at least the server's Retry-After / retry-after-ms / x-ratelimit-reset hint; "
        "exact: wait exactly the hint when present; ignore: use the backoff delay only.",
        "obey",
        RETRY_AFTER_MODES,
    ),
    "retry_on": {
        "title": "Retry on",
        "description": "Error classes retried by this policy; others give up at once (see docs/errors-and-retries.md).",
        "type": "array",
        "items": {"type": "string", "enum": [str(c) for c in ErrorClass]},
        "uniqueItems": True,
        "default": [str(ErrorClass.OVERLOAD), str(ErrorClass.RATE_LIMITED), str(ErrorClass.BAD_COMPLETION)],
    },
    "bad_completion_retries": _int(
        "Bad-completion retries",
        "Retries allowed for empty or unparseable completions.",
        1,
        0,
        10,
    ),
    "budget_ratio": _num(
        "Retry budget ratio",
        "Retries allowed as a share of requests in the budget window (Finagle/Envoy); 0 = no budget.",
        0.0,
        0,
        1,
    ),
    "budget_min_retries_per_s": _num(
        "Retry budget floor (retries/s)",
        "Retries per second always allowed by the budget, whatever the request rate.",
        10.0,
        0,
        100000,
    ),
    "budget_ttl_s": _num(
        "Retry budget window (s)", "Sliding window over which the budget counts.", 10.0, 0.1, 3600
    ),
    "throttle_max_tokens": _num(
        "Throttle max tokens",
        "gRPC retry throttling: token count ceiling; retries stop at or below half of it. 0 = off.",
        0.0,
        0,
        1000,
    ),
    "throttle_token_ratio": _num(
        "Throttle token ratio",
        "gRPC retry throttling: tokens given back per success (each failure takes 1).",
        0.1,
        0.001,
        1,
    ),
    "breaker_failure_threshold": _int(
        "Breaker failure threshold",
        "Consecutive overload failures that open the circuit breaker; 0 = no breaker.",
        0,
        0,
        10000,
    ),
    "breaker_open_s": _num(
        "Breaker open time (s)", "How long an open breaker refuses calls before half-open.", 30.0, 0.001, 3600
    ),
    "breaker_half_open_max_calls": _int(
        "Breaker probes",
        "Probe calls let through when half-open; that many successes close the breaker.",
        1,
        1,
        1000,
    ),
    "concurrency": _enum(
        "Concurrency limit",
        "unlimited; fixed: at most concurrency_limit calls in flight; aimd: adaptive limit "
        "starting at concurrency_limit (additive increase, multiplicative decrease on pushback).",
        "unlimited",
        CONCURRENCY_KINDS,
    ),
    "concurrency_limit": _int(
        "Concurrency limit (initial)", "The fixed limit, or AIMD's starting limit.", 16, 1, 10000
    ),
    "concurrency_min": _int("AIMD min limit", "Lower bound of the AIMD limit.", 1, 1, 10000),
    "concurrency_max": _int("AIMD max limit", "Upper bound of the AIMD limit.", 256, 1, 10000),
    "aimd_increase": _num(
        "AIMD increase", "Added to the limit per success while the limit is in use.", 1.0, 0.01, 100
    ),
    "aimd_backoff_ratio": _num(
        "AIMD backoff ratio", "Limit multiplier on each overload or rate-limit drop.", 0.5, 0.1, 0.99
    ),
    "rate_limit_per_s": _num(
        "Client rate limit (req/s)",
        "Token-bucket limit on attempts per second from this client; 0 = off.",
        0.0,
        0,
        100000,
    ),
    "rate_limit_burst": _int(
        "Client rate limit burst", "Token-bucket capacity for the client rate limit.", 10, 1, 100000
    ),
}


def policy_schema() -> dict[str, Any]:
    """The JSON schema (draft 2020-12) of a retry policy spec. A fresh copy on each call."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://llm-pipeline-harness/schemas/retry-policy.json",
        "title": "Retry policy",
        "description": "How an LLM worker backs off and retries (see docs/errors-and-retries.md). All fields are optional.",
        "type": "object",
        "additionalProperties": False,
        "properties": copy.deepcopy(_PROPERTIES),
    }


def default_spec() -> dict[str, Any]:
    return {name: copy.deepcopy(prop["default"]) for name, prop in _PROPERTIES.items()}


_VALIDATOR = jsonschema.Draft202012Validator(policy_schema())


def _error_field(error: jsonschema.ValidationError) -> str:
    if error.path:
        return str(error.path[0])
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(_PROPERTIES)) if isinstance(error.instance, dict) else []
        return extra[0] if extra else "<spec>"
    return "<spec>"


def validate_spec(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate ``spec`` and return it with every default filled in."""
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise PolicySpecError("<spec>", f"expected an object, got {type(spec).__name__}")
    errors = sorted(_VALIDATOR.iter_errors(dict(spec)), key=lambda e: [str(p) for p in e.path])
    if errors:
        error = errors[0]
        raise PolicySpecError(_error_field(error), error.message)
    full = default_spec()
    full.update(copy.deepcopy(dict(spec)))
    if full["kind"] == "exponential_jitter" and full["jitter"] == "decorrelated" and full["base_s"] <= 0:
        raise PolicySpecError("base_s", "decorrelated jitter needs base_s > 0")
    if full["concurrency"] == "aimd" and not (
        full["concurrency_min"] <= full["concurrency_limit"] <= full["concurrency_max"]
    ):
        raise PolicySpecError(
            "concurrency_limit", "AIMD needs concurrency_min <= concurrency_limit <= concurrency_max"
        )
    return full


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

