"""GuardedCache: the generator's cache checks through a database outage, on a fake clock."""

from __future__ import annotations

import logging

import psycopg2
import pytest

from pipeline.generator.cache_guard import GuardedCache
from pipeline.storage.cache import CacheOutcome, CacheResult
from pipeline.storage.db import DatabaseUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FlakyCache:
    """Misses while ``up``; otherwise waits out its deadline (fake time) and gives up."""

    def __init__(self, clock: Clock) -> None:
        self.clock, self.up = clock, True
        self.lookups: list[tuple[str, float]] = []
        self.released: list[str] = []

    def _check(self, deadline_s: float) -> None:
        if not self.up:
            self.clock.now += deadline_s
            raise DatabaseUnavailable("'harness' at 127.0.0.1:5432", "cache lookup", deadline_s,
                                      3, psycopg2.OperationalError("Connection refused"))

    def lookup(self, experiment_id: str, question_id: str, *, in_flight: bool, now: float,
               deadline_s: float = 0.0) -> CacheResult:
        self.lookups.append((question_id, deadline_s))
        self._check(deadline_s)
        return CacheResult(CacheOutcome.MISS)

    def release(self, experiment_id: str, question_id: str, *, deadline_s: float = 0.0) -> int:
        self._check(deadline_s)
        self.released.append(question_id)
        return 1


def _guard(clock: Clock, cache: FlakyCache) -> GuardedCache:
    return GuardedCache(cache, "exp", retry_s=60.0, probe_every_s=1.0, monotonic=clock)


def test_past_the_bound_asks_are_unavailable_and_probed_once_a_second(caplog) -> None:
    clock = Clock()
    cache = FlakyCache(clock)
    guard = _guard(clock, cache)
    assert guard.lookup("q0", in_flight=False, now=0).outcome is CacheOutcome.MISS
    cache.up = False
    with caplog.at_level(logging.WARNING, logger="pipeline.generator.cache_guard"):
        assert guard.lookup("q1", in_flight=False, now=0) is None  # waited the whole bound
        assert clock.now == 60.0 and guard.in_outage
        asked = len(cache.lookups)
        for _ in range(10):  # the same second: no database call, no wait
            assert guard.lookup("q2", in_flight=False, now=0) is None
        assert len(cache.lookups) == asked and clock.now == 60.0
        clock.now = 61.0  # a probe: one attempt (deadline 0), still down
        assert guard.lookup("q3", in_flight=False, now=0) is None
        assert cache.lookups[-1] == ("q3", 0.0)
        cache.up = True
        assert guard.lookup("q4", in_flight=False, now=0) is None  # not yet time to probe
        clock.now = 62.5
        assert guard.lookup("q5", in_flight=False, now=0).outcome is CacheOutcome.MISS
        assert not guard.in_outage
        assert cache.lookups[-1] == ("q5", 0.0)
        assert guard.lookup("q6", in_flight=False, now=0) is not None
        assert cache.lookups[-1] == ("q6", 60.0)  # the full bound again
    assert guard.unavailable == 13 and guard.outages == 1
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2  # once when the outage starts, once when it ends
    assert "answer cache unavailable" in messages[0] and "Connection refused" in messages[0]
    assert "back after 2.5 s; 13 ask(s)" in messages[1]


def test_each_outage_is_counted_and_logged(caplog) -> None:
    clock = Clock()
    cache = FlakyCache(clock)
    guard = _guard(clock, cache)
    with caplog.at_level(logging.WARNING, logger="pipeline.generator.cache_guard"):
        for _ in range(2):
            cache.up = False
            assert guard.lookup("q", in_flight=False, now=0) is None
            cache.up = True
            clock.now += 1.0
            assert guard.lookup("q", in_flight=False, now=0) is not None
    assert guard.outages == 2 and guard.unavailable == 2 and len(caplog.records) == 4


def test_releases_are_queued_and_run_before_the_next_check() -> None:
    clock = Clock()
    cache = FlakyCache(clock)
    guard = _guard(clock, cache)
    guard.release("q1")  # from a delivery callback: no database call there
    assert cache.released == []
    guard.lookup("q1", in_flight=False, now=0)
    assert cache.released == ["q1"]  # before q1 was looked up again


def test_a_release_the_outage_blocks_stays_queued(caplog) -> None:
    clock = Clock()
    cache = FlakyCache(clock)
    guard = _guard(clock, cache)
    guard.release("q1")
    cache.up = False
    assert guard.lookup("q2", in_flight=False, now=0) is None
    assert clock.now == 60.0  # the release and the lookup share one bound
    guard.release("q3")
    with caplog.at_level(logging.ERROR, logger="pipeline.generator.cache_guard"):
        guard.close()  # still down: one attempt, then the leftovers are named
    assert "2 cache placeholder(s)" in caplog.text and "q1, q3" in caplog.text
    assert clock.now == 60.0
    cache.up = True
    guard.close()
    assert cache.released == ["q1", "q3"]


@pytest.mark.parametrize("bound", [0.0, 5.0])
def test_the_bound_is_a_setting(bound: float) -> None:
    clock = Clock()
    cache = FlakyCache(clock)
    cache.up = False
    guard = GuardedCache(cache, "exp", retry_s=bound, probe_every_s=1.0, monotonic=clock)
    assert guard.lookup("q", in_flight=False, now=0) is None
    assert clock.now == bound
