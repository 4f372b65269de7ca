"""call_with_retries on a fake clock: every attempt recorded, every sleep checked, nothing sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

import pytest

from pipeline.retry import (
    BreakerState,
    CircuitOpenError,
    ClassifiedError,
    ErrorClass,
    Failure,
    FakeClock,
    RetryState,
    build_policy,
    call_with_retries,
)


class Script:
    """An async callable that plays a script: exceptions are raised, anything else returned."""

    def __init__(self, clock: FakeClock, outcomes: Iterable[object], latency_s: float = 0.1) -> None:
        self.clock, self.outcomes, self.latency_s = clock, list(outcomes), latency_s
        self.calls = 0

    async def __call__(self) -> object:
        self.calls += 1
        self.clock.advance(self.latency_s)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def err(error_class: ErrorClass, retry_after: float | None = None) -> ClassifiedError:
    return ClassifiedError(str(error_class), Failure(error_class, retry_after))


def run(fn: Callable[[], Awaitable[object]], spec: dict, clock: FakeClock, **kwargs: object):
    policy = kwargs.pop("policy", None) or build_policy(spec, clock=clock, rng=0)
    return asyncio.run(call_with_retries(fn, policy, clock=clock, sleep=clock.sleep, **kwargs)), policy  # type: ignore[arg-type]


FIXED = {"kind": "fixed", "base_s": 1.0, "max_attempts": 5, "max_elapsed_s": 0}


def test_succeeds_after_overloads_and_records_every_attempt() -> None:
    clock = FakeClock(1000.0)
    fn = Script(clock, [err(ErrorClass.OVERLOAD), err(ErrorClass.OVERLOAD), "answer"])
    result, _ = run(fn, FIXED, clock)
    assert result.ok and result.value == "answer" and result.unwrap() == "answer"
    assert fn.calls == 3
    assert clock.sleeps == [1.0, 1.0]
    assert [a.error_class for a in result.attempts] == [ErrorClass.OVERLOAD, ErrorClass.OVERLOAD, None]
    assert [a.delay_after_s for a in result.attempts] == [1.0, 1.0, None]
    first = result.attempts[0]
    assert (first.number, first.started_at, first.ended_at) == (1, 1000.0, pytest.approx(1000.1))
    assert result.attempts[2].started_at == pytest.approx(1000 + 0.1 + 1 + 0.1 + 1)


def test_gives_up_at_max_attempts_with_the_last_error() -> None:
    clock = FakeClock()
    fn = Script(clock, [err(ErrorClass.OVERLOAD)] * 5)
    result, _ = run(fn, FIXED, clock)
    assert not result.ok and fn.calls == 5
    assert result.gave_up_reason == "max_attempts (5) reached"
    assert result.error_class is ErrorClass.OVERLOAD
    assert result.state is not None and result.state.attempt_number == 5
    with pytest.raises(ClassifiedError):
        result.unwrap()


def test_exponential_sleeps_exactly() -> None:
    clock = FakeClock()
    fn = Script(clock, [err(ErrorClass.OVERLOAD)] * 4 + ["ok"], latency_s=0)
    spec = {"kind": "exponential", "base_s": 0.5, "multiplier": 3, "cap_s": 5, "max_attempts": 6, "max_elapsed_s": 0}
    result, _ = run(fn, spec, clock)
    assert result.ok
    assert clock.sleeps == [0.5, 1.5, 4.5, 5.0]


def test_invalid_request_is_not_retried() -> None:
    clock = FakeClock()
    fn = Script(clock, [err(ErrorClass.INVALID_REQUEST), "never"])
    result, _ = run(fn, FIXED, clock)
    assert fn.calls == 1 and clock.sleeps == []
    assert "invalid_request is not retried" in (result.gave_up_reason or "")


def test_retry_after_is_obeyed() -> None:
    clock = FakeClock()
    fn = Script(clock, [err(ErrorClass.RATE_LIMITED, retry_after=7.5), "ok"])
    result, _ = run(fn, {**FIXED, "retry_after": "obey"}, clock)
    assert result.ok and clock.sleeps == [7.5]
    assert result.attempts[0].retry_after_s == 7.5


def test_unclassified_exceptions_propagate() -> None:
    clock = FakeClock()
    fn = Script(clock, [KeyError("bug")])
    with pytest.raises(KeyError):
        run(fn, FIXED, clock)


def test_bare_timeouts_count_as_overload() -> None:
    clock = FakeClock()
    fn = Script(clock, [TimeoutError(), ConnectionResetError(), "ok"])
    result, _ = run(fn, FIXED, clock)
    assert result.ok and [a.error_class for a in result.attempts[:2]] == [ErrorClass.OVERLOAD] * 2


def test_open_breaker_refuses_without_calling() -> None:
    clock = FakeClock()
    policy = build_policy({**FIXED, "breaker_failure_threshold": 2, "breaker_open_s": 30}, clock=clock)
    fn = Script(clock, [err(ErrorClass.OVERLOAD)] * 2)
    result, _ = run(fn, FIXED, clock, policy=policy)
    assert fn.calls == 2 and result.gave_up_reason == "circuit breaker open"
    assert policy.breaker is not None and policy.breaker.state is BreakerState.OPEN
    untouched = Script(clock, ["never"])
    refused, _ = run(untouched, FIXED, clock, policy=policy)
    assert untouched.calls == 0 and refused.attempts == []
    assert isinstance(refused.error, CircuitOpenError)
    assert refused.error.error_class is ErrorClass.OVERLOAD
    assert refused.error.retry_after_s == pytest.approx(30.0)  # opened just now, for 30 s


def test_budget_caps_retry_amplification_across_calls() -> None:
    clock = FakeClock()
    policy = build_policy(
        {"kind": "fixed", "base_s": 0, "max_attempts": 3, "budget_ratio": 0.1, "budget_min_retries_per_s": 0},
        clock=clock,
    )
    total_calls = 0
    for _ in range(20):
        fn = Script(clock, [err(ErrorClass.OVERLOAD)] * 3, latency_s=0)
        run(fn, {}, clock, policy=policy)
        total_calls += fn.calls
    # 20 requests, 10% may be retried: 2 retries in all, not 40.
    assert total_calls == 22


def test_client_rate_limit_spaces_attempts() -> None:
    clock = FakeClock()
    policy = build_policy({"kind": "fixed", "base_s": 0, "rate_limit_per_s": 2, "rate_limit_burst": 1}, clock=clock)
    fn = Script(clock, [err(ErrorClass.OVERLOAD)] * 2 + ["ok"], latency_s=0)
    result, _ = run(fn, {}, clock, policy=policy)
    assert result.ok and clock.sleeps == [0.0, 0.5, 0.0, 0.5]


def test_aimd_limit_shrinks_on_pushback() -> None:
    clock = FakeClock()
    policy = build_policy({"kind": "fixed", "base_s": 0, "concurrency": "aimd", "concurrency_limit": 8}, clock=clock)
    fn = Script(clock, [err(ErrorClass.RATE_LIMITED), err(ErrorClass.OVERLOAD), "ok"], latency_s=0)
    result, _ = run(fn, {}, clock, policy=policy)
    # 8 -> 4 (429) -> 2 (503) -> 3: the success used 1 of 2 slots, enough to grow additively.
    assert result.ok and policy.limiter is not None and policy.limiter.limit == 3


def test_resume_from_a_deferred_state() -> None:
    clock = FakeClock(50.0)
    state = RetryState(attempt_number=4, started_at=0.0, now=40.0, error_class=ErrorClass.OVERLOAD)
    fn = Script(clock, [err(ErrorClass.OVERLOAD)])
    result, _ = run(fn, FIXED, clock, state=state)
    assert fn.calls == 1
    assert result.attempts[0].number == 5
    assert result.gave_up_reason == "max_attempts (5) reached"
