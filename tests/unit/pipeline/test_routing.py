"""Routing (docs/errors-and-retries.md#routing) as a pure function, and the retry state rebuilt from history."""

from __future__ import annotations

import pytest

from pipeline.messages import Attempt, AttemptStatus, Envelope
from pipeline.messages import ErrorClass as MsgErrorClass
from pipeline.retry.errors import ErrorClass
from pipeline.retry.state import RetryDecision
from pipeline.worker.routing import (
    Action,
    Route,
    RoutingConfig,
    quota_failures_in_round,
    rebuild_state,
    route_failure,
)

CFG = RoutingConfig(in_worker_max_attempts=3, in_worker_max_delay_s=5.0, max_deferrals=4,
                    max_quota_deferrals=2, quota_delay_s=30.0)


def tier_for(delay: float) -> str:
    return "5s" if delay <= 5 else "30s" if delay <= 30 else "120s"


RETRY = RetryDecision.after(0.2)


def route(error_class: ErrorClass, decision: RetryDecision | None = RETRY, *,
          retry_after: float | None = None, obey: bool = True, deferrals: int = 0,
          quota_failures: int = 0, visit_attempts: int = 1) -> Route:
    return route_failure(error_class, decision=decision, retry_after_s=retry_after,
                         obey_retry_after=obey, deferrals=deferrals, quota_failures=quota_failures,
                         visit_attempts=visit_attempts, config=CFG, tier_for=tier_for)


def test_invalid_request_is_dead_lettered_at_once() -> None:
    assert route(ErrorClass.INVALID_REQUEST, None) == Route.dead("invalid_request")


def test_overload_backs_off_in_worker_then_defers() -> None:
    assert route(ErrorClass.OVERLOAD, visit_attempts=1) == Route(Action.BACKOFF, 0.2)
    assert route(ErrorClass.OVERLOAD, visit_attempts=3) == Route(Action.DEFER, 0.2, tier="5s")
    # a backoff longer than the in-worker limit is deferred even early in the visit
    assert route(ErrorClass.OVERLOAD, RetryDecision.after(8.0)) == Route(Action.DEFER, 8.0, "30s")


def test_policy_give_up_dead_letters_as_retries_exhausted() -> None:
    r = route(ErrorClass.OVERLOAD, RetryDecision.give_up("stop after 5 attempts"))
    assert r.action is Action.DEAD_LETTER and r.reason == "retries_exhausted: stop after 5 attempts"


def test_rate_limit_defers_to_the_tier_covering_retry_after() -> None:
    assert route(ErrorClass.RATE_LIMITED, retry_after=12.0) == Route(Action.DEFER, 12.0, "30s")
    assert route(ErrorClass.RATE_LIMITED, RetryDecision.after(40.0), retry_after=12.0) == \
        Route(Action.DEFER, 40.0, "120s")
    # the policy may choose to ignore the server's hint
    assert route(ErrorClass.RATE_LIMITED, retry_after=12.0, obey=False) == \
        Route(Action.DEFER, 0.2, "5s")


def test_deferrals_are_bounded_per_round() -> None:
    r = route(ErrorClass.RATE_LIMITED, deferrals=4)
    assert r.action is Action.DEAD_LETTER and r.reason.startswith("max_deferrals")


def test_quota_is_deferred_long_then_dead_lettered() -> None:
    assert route(ErrorClass.QUOTA_EXHAUSTED, None, quota_failures=1) == \
        Route(Action.DEFER, 30.0, "30s")
    assert route(ErrorClass.QUOTA_EXHAUSTED, None, retry_after=90, quota_failures=2) == \
        Route(Action.DEFER, 90.0, "120s")
    assert route(ErrorClass.QUOTA_EXHAUSTED, None, quota_failures=3) == \
        Route.dead("quota_exhausted: after 2 deferrals")


def test_bad_completion_gets_the_policy_s_retry_then_dead_letter() -> None:
    assert route(ErrorClass.BAD_COMPLETION) == Route(Action.BACKOFF, 0.2)
    r = route(ErrorClass.BAD_COMPLETION, RetryDecision.give_up("bad_completion: at most 1 retries"))
    assert r.action is Action.DEAD_LETTER and r.reason.startswith("bad_completion")


def test_routing_overrides_are_typed() -> None:
    cfg = CFG.with_overrides({"max_quota_deferrals": "5", "quota_delay_s": 0.5, "other": 1})
    assert cfg.max_quota_deferrals == 5 and cfg.quota_delay_s == 0.5
    with pytest.raises(ValueError):
        CFG.with_overrides({"max_deferrals": -1})


def _attempt(number: int, error: MsgErrorClass | None, start: float, delay: float | None = None,
             round_: int = 0) -> Attempt:
    return Attempt(round=round_, number=number,
                   status=AttemptStatus.ERROR if error else AttemptStatus.OK, error_class=error,
                   started_at=start, ended_at=start + 0.5, delay_s=delay)


def test_retry_state_is_rebuilt_from_the_round_s_attempts() -> None:
    env = Envelope(experiment_id="e", question_id="q", question={"title": "t"}, intended_at=1,
                   created_at=1, round=1, attempt=3, attempts=[
                       _attempt(1, MsgErrorClass.OVERLOAD, 10.0, round_=0),
                       _attempt(1, MsgErrorClass.RATE_LIMITED, 100.0, delay=2.0, round_=1),
                       _attempt(2, MsgErrorClass.QUOTA_EXHAUSTED, 103.0, delay=30.0, round_=1),
                       _attempt(3, MsgErrorClass.QUOTA_EXHAUSTED, 140.0, delay=30.0, round_=1),
                   ])
    state = rebuild_state(env)
    assert state is not None
    assert state.attempt_number == 3  # round 0's attempt does not count
    assert (state.started_at, state.now) == (100.0, 140.5)
    assert state.prev_delay_s == 30.0
    assert state.failures_of(ErrorClass.QUOTA_EXHAUSTED) == 2
    assert state.error_class is ErrorClass.QUOTA_EXHAUSTED
    assert quota_failures_in_round(env) == 2
    assert rebuild_state(env.model_copy(update={"attempts": []})) is None
