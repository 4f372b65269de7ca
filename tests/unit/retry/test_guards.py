"""Token bucket, retry budget, gRPC throttle, circuit breaker and AIMD, on a fake clock."""

from __future__ import annotations

import asyncio
import math

import pytest

from pipeline.retry import (
    AIMDLimit,
    BreakerState,
    CircuitBreaker,
    ConcurrencyLimiter,
    FakeClock,
    FixedLimit,
    RetryBudget,
    RetryThrottle,
    TokenBucket,
)

# --- token bucket -----------------------------------------------------------------------------


def test_token_bucket_starts_full_and_refills_continuously() -> None:
    clock = FakeClock()
    bucket = TokenBucket(3, 1.0, clock=clock)
    assert [bucket.try_take() for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_time(1) == pytest.approx(1.0)
    assert bucket.time_until_full() == pytest.approx(3.0)
    clock.advance(0.5)
    assert not bucket.try_take()
    assert bucket.wait_time(1) == pytest.approx(0.5)
    clock.advance(0.5)
    assert bucket.try_take()
    clock.advance(100)
    assert bucket.available == 3  # never above capacity


def test_token_bucket_never_fits_more_than_capacity() -> None:
    bucket = TokenBucket(10, 1.0, clock=FakeClock())
    assert math.isinf(bucket.wait_time(11))


def test_token_bucket_take_sleeps_exactly_the_deficit() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2, 4.0, clock=clock)

    async def main() -> list[float]:
        return [await bucket.take(1, sleep=clock.sleep) for _ in range(4)]

    assert asyncio.run(main()) == pytest.approx([0, 0, 0.25, 0.25])
    assert clock.now == pytest.approx(0.5)


# --- retry budget -----------------------------------------------------------------------------


def test_budget_floor_allows_retries_without_traffic() -> None:
    budget = RetryBudget(0.2, min_retries_per_s=0.5, ttl_s=4, clock=FakeClock())
    assert [budget.try_withdraw() for _ in range(3)] == [True, True, False]


def test_budget_ratio_of_requests_in_the_window() -> None:
    clock = FakeClock()
    budget = RetryBudget(0.1, min_retries_per_s=0, ttl_s=10, clock=clock)
    for _ in range(50):
        budget.record_request()
    assert sum(budget.try_withdraw() for _ in range(20)) == 5
    clock.advance(10.001)  # requests and retries leave the window together
    assert budget.allowance == 0 and budget.balance == 0
    assert not budget.try_withdraw()


# --- gRPC throttle ----------------------------------------------------------------------------


def test_grpc_throttle_follows_grfc_a6() -> None:
    throttle = RetryThrottle(max_tokens=10, token_ratio=0.1)
    for _ in range(4):
        throttle.record_failure()
    assert throttle.token_count == 6 and throttle.allows_retry()
    throttle.record_failure()
    assert throttle.token_count == 5 and not throttle.allows_retry()  # must be strictly above half
    throttle.record_success()
    assert throttle.token_count == pytest.approx(5.1) and throttle.allows_retry()
    for _ in range(100):
        throttle.record_success()
    assert throttle.token_count == 10
    for _ in range(100):
        throttle.record_failure()
    assert throttle.token_count == 0


# --- circuit breaker --------------------------------------------------------------------------


def test_breaker_full_cycle() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(3, open_s=10, half_open_max_calls=2, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # resets the consecutive count
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    assert breaker.retry_in_s() == 10
    clock.advance(9.99)
    assert not breaker.allow()
    clock.advance(0.01)
    assert breaker.state is BreakerState.HALF_OPEN
    assert [breaker.allow(), breaker.allow(), breaker.allow()] == [True, True, False]  # 2 probes
    breaker.record_success()
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    assert [s for _, s in breaker.transitions] == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_breaker_half_open_failure_reopens() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, open_s=5, clock=clock)
    breaker.record_failure()
    clock.advance(5)
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_in_s() == 5


@pytest.mark.parametrize("kwargs", [{"failure_threshold": 0, "open_s": 1}, {"failure_threshold": 1, "open_s": 0}])
def test_breaker_rejects_bad_parameters(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(**kwargs)


# --- AIMD / concurrency -----------------------------------------------------------------------


def test_aimd_additive_increase_multiplicative_decrease() -> None:
    limit = AIMDLimit(10, min_limit=2, max_limit=12, increase=1, backoff_ratio=0.5)
    limit.on_success(in_flight=2)  # under half used: no evidence the limit is too low
    assert limit.limit == 10
    limit.on_success(in_flight=5)
    limit.on_success(in_flight=9)
    limit.on_success(in_flight=9)
    assert limit.limit == 12  # capped at max
    limit.on_drop()
    assert limit.limit == 6
    for _ in range(5):
        limit.on_drop()
    assert limit.limit == 2  # floored at min


def test_aimd_validates_bounds() -> None:
    with pytest.raises(ValueError):
        AIMDLimit(1, min_limit=2, max_limit=4)


def test_limiter_queues_callers_and_shrinks_on_drops() -> None:
    limiter = ConcurrencyLimiter(AIMDLimit(2, min_limit=1, max_limit=4))
    peak = 0
    order: list[int] = []

    async def call(i: int, drop: bool) -> None:
        nonlocal peak
        async with limiter.slot() as slot:
            peak = max(peak, limiter.in_flight)
            order.append(i)
            await asyncio.sleep(0)
            if drop:
                slot.drop()

    async def main() -> None:
        await asyncio.gather(*(call(i, drop=True) for i in range(6)))

    asyncio.run(main())
    assert peak == 2  # never above the starting limit
    assert sorted(order) == list(range(6))  # every queued caller got its turn
    assert limiter.in_flight == 0
    assert limiter.limit == 1  # every drop halved it, down to min_limit


def test_fixed_limiter_try_acquire() -> None:
    limiter = ConcurrencyLimiter(FixedLimit(1))
    assert limiter.try_acquire() and not limiter.try_acquire()
    limiter.release(dropped=True)
    assert limiter.limit == 1 and limiter.try_acquire()


def test_limiter_cancelled_waiter_passes_the_wakeup_on() -> None:
    limiter = ConcurrencyLimiter(FixedLimit(1))

    async def main() -> bool:
        await limiter.acquire()
        first = asyncio.create_task(limiter.acquire())
        second = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0)
        limiter.release(dropped=False)  # wakes `first`...
        first.cancel()  # ...which is cancelled before it runs
        await asyncio.wait_for(second, timeout=1)
        return limiter.in_flight == 1

    assert asyncio.run(main())
