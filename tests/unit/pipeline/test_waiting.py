"""pipeline.waiting.wait_until: the one poll-until-deadline loop (virtual time, no real sleep)."""

from __future__ import annotations

import pytest

from pipeline.waiting import WaitTimeout, wait_until


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_returns_the_first_truthy_answer_with_growing_pauses() -> None:
    clock = FakeClock()
    answers = iter([None, 0, "", "ready"])
    assert wait_until(lambda: next(answers), 10, what="x", clock=clock,
                      sleep=clock.sleep) == "ready"
    assert clock.sleeps == [0.1, pytest.approx(0.15), pytest.approx(0.225)]


def test_pauses_are_capped() -> None:
    clock = FakeClock()
    answers = iter([False] * 6 + [True])
    wait_until(lambda: next(answers), 100, what="x", pause_s=1.0, backoff=3.0, max_pause_s=4.0,
               clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [1.0, 3.0, 4.0, 4.0, 4.0, 4.0]


def test_raises_at_the_deadline_without_sleeping_past_it() -> None:
    clock = FakeClock()
    calls = []
    with pytest.raises(WaitTimeout, match="thing not done"):
        wait_until(lambda: calls.append(1), 1.0, what="thing not done", pause_s=0.4,
                   backoff=1.0, clock=clock, sleep=clock.sleep)
    assert clock.now == pytest.approx(1.0)
    assert len(calls) == 4  # at 0, 0.4, 0.8 and at the deadline itself
    assert isinstance(WaitTimeout("x"), TimeoutError)


def test_checks_once_even_when_the_deadline_has_passed() -> None:
    clock = FakeClock()
    assert wait_until(lambda: 7, -1, what="x", clock=clock, sleep=clock.sleep) == 7
    assert clock.sleeps == []


def test_the_message_is_written_at_the_deadline_and_the_error_type_is_the_callers() -> None:
    class Boom(RuntimeError):
        pass

    clock = FakeClock()
    state = {"n": 0}

    def check() -> bool:
        state["n"] += 1
        return False

    with pytest.raises(Boom, match=r"still pending after \d+ checks"):
        wait_until(check, 2, what=lambda: f"still pending after {state['n']} checks", error=Boom,
                   clock=clock, sleep=clock.sleep)


def test_an_exception_from_the_check_ends_the_wait() -> None:
    clock = FakeClock()

    def check() -> bool:
        raise ValueError("job failed")

    with pytest.raises(ValueError, match="job failed"):
        wait_until(check, 10, what="x", clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []
