"""Pacing on absolute deadlines with a fake clock: no drift, lateness measured, no catch-up sleep."""

from __future__ import annotations

import pytest

from pipeline.generator.pacing import Pacer


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + 1_700_000_000.0

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_sleeps_to_absolute_deadlines_without_drift() -> None:
    t = FakeTime()
    pacer = Pacer(monotonic=t.monotonic, sleep=t.sleep, wall=t.wall)
    for k in range(1, 101):
        t.now += 0.003  # work between sends must not push the schedule back
        assert pacer.wait(k * 0.01) == 0.0
    assert t.now == pytest.approx(1000.0 + 1.0)  # the 100th send at exactly 1.0 s
    assert all(s == pytest.approx(0.007) for s in t.sleeps)


def test_late_sends_go_at_once_and_keep_their_intended_time() -> None:
    t = FakeTime()
    pacer = Pacer(monotonic=t.monotonic, sleep=t.sleep, wall=t.wall, start_delay_s=0.5)
    assert pacer.intended_at(0.0) == pytest.approx(t.wall() + 0.5)
    t.now += 2.0  # the generator stalled (e.g. a slow storage check)
    assert pacer.wait(1.0) == pytest.approx(0.5)
    assert pacer.wait(1.2) == pytest.approx(0.3)
    assert t.sleeps == []  # no sleeping while behind
    assert pacer.intended_at(1.2) == pytest.approx(pacer.epoch_start + 1.2)
    stats = pacer.lag_stats()
    assert stats["max_lag_s"] == pytest.approx(0.5) and stats["late_sends"] == 2
