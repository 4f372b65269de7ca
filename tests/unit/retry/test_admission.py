"""RetryPolicy.admit / wait_turn / record / release on a fake clock: what each guard answers and
what a ticket holds."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.retry import BreakerState, ErrorClass, FakeClock, Gate, Ticket, build_policy


def test_no_guards_admit_at_once() -> None:
    policy = build_policy({"kind": "fixed"})
    ticket = Ticket()
    assert policy.admit(ticket).go and ticket.admitted
    policy.record(ticket, None)
    with pytest.raises(ValueError, match="recorded once"):
        policy.record(ticket, None)
    with pytest.raises(ValueError, match="admitted once"):
        policy.admit(ticket)


def test_only_an_admitted_attempt_has_an_outcome() -> None:
    policy = build_policy({"kind": "fixed"})
    with pytest.raises(ValueError, match="only an admitted"):
        policy.record(Ticket(), None)


def test_rate_limit_answers_wait_with_the_time_to_the_next_token() -> None:
    clock = FakeClock()
    policy = build_policy({"rate_limit_per_s": 2, "rate_limit_burst": 1}, clock=clock)
    assert policy.admit(Ticket()).go
    ticket = Ticket()
    wait = policy.admit(ticket)
    assert wait.gate is Gate.WAIT and wait.delay_s == pytest.approx(0.5)
    clock.advance(0.5)
    assert policy.admit(ticket).go and ticket.token


def test_concurrency_limit_queues_first_come_first_served() -> None:
    policy = build_policy({"concurrency": "fixed", "concurrency_limit": 1})
    assert policy.limiter is not None
    held, waiting = Ticket(), Ticket()
    assert policy.admit(held).go and held.slot
    assert policy.admit(waiting).gate is Gate.QUEUE and not waiting.slot

    async def main() -> None:
        turn = asyncio.create_task(policy.wait_turn(waiting))
        await asyncio.sleep(0)
        assert not turn.done()
        policy.record(held, ErrorClass.INVALID_REQUEST)  # not pushback: the slot is simply freed
        await turn

    asyncio.run(main())
    assert waiting.slot and policy.limiter.in_flight == 1
    assert policy.admit(waiting).go


def test_pushback_shrinks_aimd_and_release_leaves_it_alone() -> None:
    policy = build_policy({"concurrency": "aimd", "concurrency_limit": 8})
    assert policy.limiter is not None
    ticket = Ticket()
    policy.admit(ticket)
    policy.record(ticket, ErrorClass.RATE_LIMITED)
    assert policy.limiter.limit == 4
    ticket = Ticket()
    policy.admit(ticket)
    policy.release(ticket)
    policy.release(ticket)  # idempotent
    assert policy.limiter.limit == 4 and policy.limiter.in_flight == 0


def test_open_breaker_refuses_and_frees_what_the_ticket_held() -> None:
    clock = FakeClock()
    policy = build_policy({"breaker_failure_threshold": 1, "breaker_open_s": 10,
                           "concurrency": "fixed", "concurrency_limit": 1}, clock=clock)
    assert policy.limiter is not None
    failing, queued = Ticket(), Ticket()
    assert policy.admit(failing).go
    assert policy.admit(queued).gate is Gate.QUEUE
    policy.record(failing, ErrorClass.OVERLOAD)  # opens the breaker
    asyncio.run(policy.wait_turn(queued))
    assert queued.slot and policy.limiter.in_flight == 1
    refused = policy.admit(queued)  # the breaker opened while it waited
    assert refused.gate is Gate.REFUSE and refused.delay_s == 10
    assert queued.closed and not queued.slot and policy.limiter.in_flight == 0


def test_half_open_admits_its_probes_then_refuses_and_a_released_probe_is_given_back() -> None:
    clock = FakeClock()
    policy = build_policy({"breaker_failure_threshold": 1, "breaker_open_s": 10}, clock=clock)
    opener = Ticket()
    policy.admit(opener)
    policy.record(opener, ErrorClass.OVERLOAD)
    clock.advance(10)
    probe = Ticket()
    assert policy.admit(probe).go and probe.probe
    refused = policy.admit(Ticket())
    assert refused.gate is Gate.REFUSE and refused.delay_s == 0.0
    policy.release(probe)  # cancelled: the probe's place is free again
    second = Ticket()
    assert policy.admit(second).go
    policy.record(second, None)
    assert policy.breaker is not None and policy.breaker.state is BreakerState.CLOSED
