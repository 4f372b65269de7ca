"""Wait and stop strategies: exact delays, jitter bounds, caps, composition, Retry-After."""

from __future__ import annotations

import random

import pytest

from pipeline.retry import (
    ErrorClass,
    RetryState,
    StopAfterAttempt,
    StopAfterElapsed,
    StopBeforeElapsed,
    StopNever,
    WaitDecorrelatedJitter,
    WaitEqualJitter,
    WaitExponential,
    WaitFixed,
    WaitFullJitter,
    WaitNone,
    WaitRandom,
    WaitRetryAfter,
)


def state(n: int = 1, *, now: float = 0.0, retry_after: float | None = None, prev: float | None = None) -> RetryState:
    return RetryState(
        attempt_number=n,
        started_at=0.0,
        now=now,
        error_class=ErrorClass.OVERLOAD,
        retry_after_s=retry_after,
        prev_delay_s=prev,
    )


RNG = random.Random(0)


def test_fixed_and_none() -> None:
    assert WaitFixed(1.5)(state(7), RNG) == 1.5
    assert WaitNone()(state(3), RNG) == 0.0


def test_exponential_grows_then_caps() -> None:
    wait = WaitExponential(0.1, 2.0, cap_s=1.0)
    assert [wait(state(n), RNG) for n in range(1, 7)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_exponential_does_not_overflow_at_huge_attempts() -> None:
    assert WaitExponential(1.0, 10.0, cap_s=30.0)(state(10_000), RNG) == 30.0


@pytest.mark.parametrize("n", [1, 2, 3, 6, 12])
def test_full_jitter_bounds(n: int) -> None:
    wait = WaitFullJitter(0.1, 2.0, cap_s=2.0)
    ceiling = min(2.0, 0.1 * 2 ** (n - 1))
    rng = random.Random(n)
    draws = [wait(state(n), rng) for _ in range(500)]
    assert all(0.0 <= d <= ceiling for d in draws)
    # Full jitter uses the whole range, not just the top of it.
    assert min(draws) < 0.1 * ceiling and max(draws) > 0.9 * ceiling


@pytest.mark.parametrize("n", [1, 3, 8])
def test_equal_jitter_bounds(n: int) -> None:
    wait = WaitEqualJitter(0.2, 2.0, cap_s=5.0)
    t = min(5.0, 0.2 * 2 ** (n - 1))
    rng = random.Random(n)
    draws = [wait(state(n), rng) for _ in range(500)]
    assert all(t / 2 <= d <= t for d in draws)
    assert min(draws) < t * 0.55 and max(draws) > t * 0.95


def test_decorrelated_jitter_grows_from_previous_delay_and_caps() -> None:
    wait = WaitDecorrelatedJitter(0.1, cap_s=3.0)
    rng = random.Random(1)
    first = [wait(state(1), rng) for _ in range(200)]
    assert all(0.1 <= d <= 0.3 for d in first)  # prev = base -> uniform(base, 3 * base)
    later = [wait(state(5, prev=2.0), rng) for _ in range(200)]
    assert all(0.1 <= d <= 3.0 for d in later)
    assert max(later) == 3.0 or max(later) > 2.5  # reaches up toward the cap


def test_jitter_is_reproducible_from_a_seed() -> None:
    wait = WaitFullJitter(0.1, 2.0, 10.0)
    a = [wait(state(n), random.Random(42)) for n in range(1, 6)]
    b = [wait(state(n), random.Random(42)) for n in range(1, 6)]
    assert a == b


def test_waits_compose_with_plus_and_sum() -> None:
    combined = WaitFixed(1.0) + WaitExponential(0.5, 2.0)
    assert combined(state(3), RNG) == pytest.approx(1.0 + 2.0)
    total = sum([WaitFixed(1.0), WaitFixed(2.0), WaitFixed(0.25)])
    assert total(state(1), RNG) == pytest.approx(3.25)
    jittered = WaitFixed(1.0) + WaitRandom(0.0, 0.5)
    assert all(1.0 <= jittered(state(1), RNG) <= 1.5 for _ in range(50))


def test_capped() -> None:
    assert (WaitFixed(5.0) + WaitFixed(5.0)).capped(7.0)(state(1), RNG) == 7.0


@pytest.mark.parametrize(
    ("mode", "hint", "expected"),
    [
        ("obey", 4.0, 4.0),  # hint longer than backoff wins, above the cap
        ("obey", 0.1, 1.0),  # backoff longer than hint wins
        ("obey", None, 1.0),
        ("exact", 0.1, 0.1),
        ("exact", None, 1.0),
        ("ignore", 4.0, 1.0),
    ],
)
def test_retry_after_modes(mode: str, hint: float | None, expected: float) -> None:
    wait = WaitRetryAfter(WaitExponential(1.0, 2.0, cap_s=2.0), mode)  # type: ignore[arg-type]
    assert wait(state(1, retry_after=hint), RNG) == pytest.approx(expected)


def test_retry_after_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="retry_after"):
        WaitRetryAfter(WaitNone(), "sometimes")  # type: ignore[arg-type]


def test_stop_after_attempt_counts_the_first_attempt() -> None:
    stop = StopAfterAttempt(3)
    assert not stop(state(2))
    assert stop.check(state(3)) == "max_attempts (3) reached"


def test_stop_after_elapsed() -> None:
    stop = StopAfterElapsed(10.0)
    assert not stop(state(1, now=9.9))
    assert stop(state(1, now=10.0))


def test_stop_before_elapsed_looks_ahead_at_the_upcoming_delay() -> None:
    stop = StopBeforeElapsed(10.0)
    assert not stop(state(1, now=8.0).with_upcoming(2.0))
    assert stop.check(state(1, now=8.0).with_upcoming(2.5)) == "max_elapsed_s (10) would be exceeded"


def test_stops_compose_with_or_and_and() -> None:
    either = StopAfterAttempt(5) | StopAfterElapsed(10.0)
    assert either(state(5, now=0.0)) and either(state(1, now=11.0)) and not either(state(2, now=1.0))
    both = StopAfterAttempt(5) & StopAfterElapsed(10.0)
    assert not both(state(5, now=0.0)) and not both(state(1, now=11.0)) and both(state(5, now=11.0))
    assert not StopNever()(state(10_000, now=1e9))
