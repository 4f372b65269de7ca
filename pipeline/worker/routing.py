"""Where a failed LLM attempt goes next (docs/errors-and-retries.md#routing) - pure functions, no I/O.

| error class     | route                                                                  |
|-----------------|------------------------------------------------------------------------|
| overload        | in-worker backoff while the visit has attempts and the delay is short; |
|                 | then a retry tier; the policy's give-up -> qa.dlq (retries_exhausted)  |
| rate_limited    | retry tier covering max(policy delay, Retry-After); give-up -> qa.dlq  |
| quota_exhausted | retry tier after max(Retry-After, quota_delay_s); after                |
|                 | max_quota_deferrals -> qa.dlq (quota_exhausted)                         |
| invalid_request | qa.dlq at once                                                         |
| bad_completion  | in-worker retry while the policy allows (one by default), then qa.dlq  |

Every deferral counts against ``max_deferrals`` per round (then qa.dlq, max_deferrals).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any

from pipeline.messages import Envelope
from pipeline.messages import ErrorClass as MsgErrorClass
from pipeline.retry.errors import ErrorClass, Failure
from pipeline.retry.state import RetryDecision, RetryState


class Action(StrEnum):
    ANSWER = "answer"
    BACKOFF = "backoff"  # sleep in the worker, then try again
    DEFER = "defer"  # to a retry tier, released by the relay at due_at
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True)
class Route:
    action: Action
    delay_s: float = 0.0
    tier: str | None = None
    reason: str | None = None

    @classmethod
    def dead(cls, reason: str) -> Route:
        return cls(Action.DEAD_LETTER, reason=reason)


@dataclass(frozen=True)
class RoutingConfig:
    """Worker-side knobs of the routing (defaults from WorkerSettings, overridable per policy)."""

    in_worker_max_attempts: int = 3
    in_worker_max_delay_s: float = 5.0
    max_deferrals: int = 10
    max_quota_deferrals: int = 3
    quota_delay_s: float = 30.0

    @classmethod
    def keys(cls) -> frozenset[str]:
        return frozenset(f.name for f in fields(cls))

    def with_overrides(self, overrides: Mapping[str, Any]) -> RoutingConfig:
        """A copy with the known keys of ``overrides`` applied (type-checked by coercion)."""
        changes: dict[str, Any] = {}
        for f in fields(self):
            if f.name in overrides:
                value = overrides[f.name]
                typed = int(value) if f.type in ("int", int) else float(value)
                if typed < 0:
                    raise ValueError(f"{f.name} must be >= 0, got {value!r}")
                changes[f.name] = typed
        return replace(self, **changes)


def route_failure(
    error_class: ErrorClass,
    *,
    decision: RetryDecision | None,
    retry_after_s: float | None,
    obey_retry_after: bool,
    deferrals: int,
    quota_failures: int,
    visit_attempts: int,
    config: RoutingConfig,
    tier_for: Callable[[float], str],
) -> Route:
    """The route of a failed attempt.

    ``decision`` is the policy's (``RetryPolicy.decide``) for overload, rate_limited and
    bad_completion; ``deferrals`` counts earlier deferrals in this round, ``quota_failures`` the
    quota failures of this round including this one, ``visit_attempts`` the attempts made since
    this worker took the record (including this one).
    """
    hint = retry_after_s or 0.0

    def defer(wait_s: float) -> Route:
        if deferrals >= config.max_deferrals:
            return Route.dead(f"max_deferrals: {deferrals} deferrals in this round")
        return Route(Action.DEFER, delay_s=wait_s, tier=tier_for(wait_s))

    if error_class is ErrorClass.INVALID_REQUEST:
        return Route.dead("invalid_request")
    if error_class is ErrorClass.QUOTA_EXHAUSTED:
        if quota_failures > config.max_quota_deferrals:
            return Route.dead(f"quota_exhausted: after {config.max_quota_deferrals} deferrals")
        return defer(max(hint, config.quota_delay_s))
    if decision is None:
        raise ValueError(f"{error_class} needs the policy's decision")
    if error_class is ErrorClass.BAD_COMPLETION:
        if decision.retry:
            return Route(Action.BACKOFF, delay_s=decision.delay_s)
        return Route.dead(f"bad_completion: {decision.reason}")
    if not decision.retry:
        return Route.dead(f"retries_exhausted: {decision.reason}")
    if error_class is ErrorClass.RATE_LIMITED:
        return defer(max(decision.delay_s, hint) if obey_retry_after else decision.delay_s)
    # overload
    if visit_attempts < config.in_worker_max_attempts and decision.delay_s <= config.in_worker_max_delay_s:
        return Route(Action.BACKOFF, delay_s=decision.delay_s)
    return defer(decision.delay_s)


def round_attempts(env: Envelope) -> list:
    return [a for a in env.attempts if a.round == env.round]


def quota_failures_in_round(env: Envelope) -> int:
    return sum(a.error_class is MsgErrorClass.QUOTA_EXHAUSTED for a in round_attempts(env))


def rebuild_state(env: Envelope) -> RetryState | None:
    """The retry state after the current round's recorded attempts (None before the first).

    The envelope carries the attempt history, so a worker that picks a deferred record up again
    resumes the same policy (attempt count, elapsed time, failures per class, previous delay).
    Times are the attempts' epoch seconds. Successful attempts of the round are skipped.
    """
    failed = [a for a in round_attempts(env) if a.error_class is not None]
    if not failed:
        return None
    first = failed[0]
    state = RetryState.first_failure(
        Failure(ErrorClass(first.error_class.value), status=first.http_status),
        started_at=first.started_at, now=first.ended_at,
    )
    for prev, a in itertools.pairwise(failed):
        state = state.after_failure(
            Failure(ErrorClass(a.error_class.value), status=a.http_status),
            now=a.ended_at, delay_s=prev.delay_s,
        )
    return state
