"""RetryPolicy.schedule (pure) and decide (with guards)."""

from __future__ import annotations

import pytest

from pipeline.retry import (
    BreakerState,
    ErrorClass,
    Failure,
    FakeClock,
    Gate,
    RetryPolicy,
    RetryState,
    Ticket,
    build_policy,
)


def first(error_class: ErrorClass, *, retry_after: float | None = None, now: float = 0.0) -> RetryState:
    return RetryState.first_failure(Failure(error_class, retry_after), started_at=0.0, now=now)


@pytest.mark.parametrize("error_class", [ErrorClass.INVALID_REQUEST, ErrorClass.QUOTA_EXHAUSTED])
def test_default_policy_does_not_retry_hopeless_classes(error_class: ErrorClass) -> None:
    decision = build_policy().schedule(first(error_class))
    assert not decision.retry
    assert str(error_class) in decision.reason


def test_retry_on_is_configurable() -> None:
    policy = build_policy({"retry_on": ["quota_exhausted"]})
    assert policy.schedule(first(ErrorClass.QUOTA_EXHAUSTED)).retry
    assert not policy.schedule(first(ErrorClass.OVERLOAD)).retry


def test_bad_completion_gets_one_retry_by_default() -> None:
    policy = build_policy({"kind": "fixed", "base_s": 0.5})
    s1 = first(ErrorClass.BAD_COMPLETION)
    assert policy.schedule(s1).retry
    s2 = s1.after_failure(Failure(ErrorClass.BAD_COMPLETION), now=1.0, delay_s=0.5)
    decision = policy.schedule(s2)
    assert not decision.retry and "at most 1 retries" in decision.reason


def test_exponential_schedule_up_to_max_attempts() -> None:
    policy = build_policy({"kind": "exponential", "base_s": 1, "multiplier": 2, "cap_s": 5, "max_attempts": 5, "max_elapsed_s": 0})
    s = first(ErrorClass.OVERLOAD)
    delays = []
    while (d := policy.schedule(s)).retry:
        delays.append(d.delay_s)
        s = s.after_failure(Failure(ErrorClass.OVERLOAD), now=s.now + d.delay_s, delay_s=d.delay_s)
    assert delays == [1, 2, 4, 5]
    assert s.attempt_number == 5
    assert "max_attempts (5)" in policy.schedule(s).reason


def test_max_elapsed_gives_up_before_sleeping_past_the_deadline() -> None:
    policy = build_policy({"kind": "fixed", "base_s": 4, "cap_s": 4, "max_attempts": 100, "max_elapsed_s": 10})
    assert policy.schedule(first(ErrorClass.OVERLOAD, now=6.0)).retry  # 6 + 4 = 10: still allowed
    decision = policy.schedule(first(ErrorClass.OVERLOAD, now=6.5))
    assert not decision.retry and "max_elapsed_s" in decision.reason


def test_retry_after_obeyed_beyond_the_cap_and_can_end_the_call() -> None:
    policy = build_policy({"kind": "exponential", "base_s": 0.1, "cap_s": 1, "max_elapsed_s": 60, "retry_after": "obey"})
    assert policy.schedule(first(ErrorClass.RATE_LIMITED, retry_after=7.0)).delay_s == 7.0
    decision = policy.schedule(first(ErrorClass.RATE_LIMITED, retry_after=600.0))
    assert not decision.retry and "max_elapsed_s" in decision.reason
    ignoring = build_policy({"kind": "exponential", "base_s": 0.1, "cap_s": 1, "retry_after": "ignore"})
    assert ignoring.schedule(first(ErrorClass.RATE_LIMITED, retry_after=7.0)).delay_s == pytest.approx(0.1)


def test_seeded_policies_decide_identically() -> None:
    spec = {"kind": "exponential_jitter", "jitter": "decorrelated", "base_s": 0.2, "max_attempts": 10}
    a, b = build_policy(spec, rng=7), build_policy(spec, rng=7)
    s = first(ErrorClass.OVERLOAD)
    assert [a.schedule(s).delay_s for _ in range(5)] == [b.schedule(s).delay_s for _ in range(5)]


def attempt(policy: RetryPolicy, error_class: ErrorClass | None, *, first: bool = False) -> None:
    """One admitted attempt with the given outcome (None = success)."""
    ticket = Ticket(first=first)
    assert policy.admit(ticket).go
    policy.record(ticket, error_class)


def test_decide_consults_the_budget_and_withdraws_only_when_retrying() -> None:
    clock = FakeClock()
    policy = build_policy({"budget_ratio": 0.5, "budget_min_retries_per_s": 0, "budget_ttl_s": 10}, clock=clock)
    assert policy.budget is not None
    for _ in range(4):
        attempt(policy, ErrorClass.OVERLOAD, first=True)  # admitting a first attempt deposits
    decisions = [policy.decide(first(ErrorClass.OVERLOAD)) for _ in range(3)]
    assert [d.retry for d in decisions] == [True, True, False]
    assert decisions[2].reason == "retry budget exhausted"
    # A schedule refusal does not spend budget; admitting a retry deposits nothing.
    clock.advance(11)  # window expires: nothing deposited, nothing spent
    attempt(policy, ErrorClass.OVERLOAD, first=True)
    attempt(policy, ErrorClass.OVERLOAD, first=True)
    attempt(policy, ErrorClass.OVERLOAD, first=False)
    assert not policy.decide(first(ErrorClass.INVALID_REQUEST)).retry
    assert policy.budget.balance == pytest.approx(1.0)


def test_decide_respects_the_grpc_throttle() -> None:
    policy = build_policy({"throttle_max_tokens": 4, "throttle_token_ratio": 0.5})
    for _ in range(2):
        attempt(policy, ErrorClass.OVERLOAD)  # 4 -> 2: not > 2
    decision = policy.decide(first(ErrorClass.OVERLOAD))
    assert not decision.retry and "throttled" in decision.reason
    attempt(policy, None)  # 2.5 > 2
    assert policy.decide(first(ErrorClass.OVERLOAD)).retry


def test_throttle_ignores_failures_the_policy_would_not_retry() -> None:
    policy = build_policy({"throttle_max_tokens": 4})
    for _ in range(10):
        attempt(policy, ErrorClass.INVALID_REQUEST)
    assert policy.throttle is not None and policy.throttle.token_count == 4


def test_an_open_breaker_refuses_admission_but_not_the_retry_decision() -> None:
    """The breaker is an admission guard: decide still schedules the retry (the worker then
    defers it until the breaker half-opens)."""
    clock = FakeClock()
    policy = build_policy({"breaker_failure_threshold": 2, "breaker_open_s": 5}, clock=clock)
    attempt(policy, ErrorClass.OVERLOAD)
    attempt(policy, ErrorClass.RATE_LIMITED)  # a 429 shows the server is up: resets the streak
    attempt(policy, ErrorClass.OVERLOAD)
    assert policy.breaker is not None and policy.breaker.state is BreakerState.CLOSED
    attempt(policy, ErrorClass.OVERLOAD)
    assert policy.breaker.state is BreakerState.OPEN and policy.breaker_open_for_s() == 5
    assert policy.decide(first(ErrorClass.OVERLOAD)).retry
    refused = policy.admit(Ticket())
    assert refused.gate is Gate.REFUSE and refused.delay_s == 5 and refused.reason == "circuit breaker open"
    clock.advance(5)
    assert policy.admit(Ticket()).go and policy.breaker_open_for_s() == 0


def test_a_wait_that_never_ends_gives_up() -> None:
    policy = build_policy({"kind": "fixed", "base_s": 1, "retry_after": "exact", "max_elapsed_s": 0})
    decision = policy.schedule(first(ErrorClass.RATE_LIMITED, retry_after=float("inf")))
    assert not decision.retry and decision.reason == "infinite delay"
