"""Offset tracking with out-of-order completion: commit only below the lowest record in flight."""

from __future__ import annotations

import threading

import pytest

from pipeline.kafka.offsets import OffsetTracker, PartitionOffsets


def test_commit_waits_for_the_lowest_offset_in_flight() -> None:
    p = PartitionOffsets()
    for offset in (10, 11, 12):
        p.start(offset)
    assert p.committable() is None or p.committable() == 10
    p.complete(12)
    p.complete(11)
    assert p.take_commit() == 10  # 10 still running: 11 and 12 must not be committed
    assert p.take_commit() is None  # nothing new
    p.complete(10)
    assert p.take_commit() == 13
    assert p.in_flight == 0


def test_gaps_in_offsets_are_fine() -> None:
    p = PartitionOffsets()
    for offset in (5, 9, 20):  # compaction / transaction markers leave gaps
        p.start(offset)
    p.complete(5)
    assert p.take_commit() == 9
    p.complete(20)
    p.complete(9)
    assert p.take_commit() == 21


def test_offsets_must_increase_and_complete_once() -> None:
    p = PartitionOffsets()
    p.start(3)
    with pytest.raises(ValueError):
        p.start(3)
    p.complete(3)
    with pytest.raises(ValueError):
        p.complete(3)
    with pytest.raises(ValueError):
        p.complete(7)


def test_failed_commit_is_offered_again() -> None:
    p = PartitionOffsets()
    p.start(0)
    p.complete(0)
    assert p.take_commit() == 1
    p.commit_failed(1)
    assert p.take_commit() == 1


def test_tracker_per_partition_and_revocation() -> None:
    t = OffsetTracker()
    t.assign([("q", 0), ("q", 1)])
    a = t.start("q", 0, 0)
    b = t.start("q", 0, 1)
    c = t.start("q", 1, 7)
    assert t.in_flight() == 3
    assert t.complete(b) and t.complete(c)
    assert t.take_commits() == {("q", 0): 0, ("q", 1): 8}
    assert t.revoke([("q", 0)]) == {}  # 0 is still in flight: nothing new to commit
    assert t.complete(a) is False  # its partition went away: the ticket is stale
    assert t.partitions() == [("q", 1)]


def test_stale_ticket_after_reassignment_is_ignored() -> None:
    t = OffsetTracker()
    t.assign([("q", 0)])
    old = t.start("q", 0, 5)
    t.revoke([("q", 0)])
    t.assign([("q", 0)])  # assigned back: a new generation starting from the committed offset
    new = t.start("q", 0, 5)
    assert t.complete(old) is False
    assert t.complete(new) is True
    assert t.take_commits() == {("q", 0): 6}


def test_revoke_returns_the_final_position() -> None:
    t = OffsetTracker()
    t.assign([("q", 2)])
    for offset in range(3):
        t.complete(t.start("q", 2, offset))
    assert t.revoke([("q", 2)]) == {("q", 2): 3}


def test_wait_idle_returns_when_records_complete() -> None:
    t = OffsetTracker()
    t.assign([("q", 0)])
    ticket = t.start("q", 0, 0)
    assert t.wait_idle([("q", 0)], timeout_s=0.0) is False
    timer = threading.Timer(0.05, t.complete, args=(ticket,))
    timer.start()
    assert t.wait_idle([("q", 0)], timeout_s=5.0) is True
    timer.join()
    assert t.wait_idle([("q", 1)], timeout_s=0.0) is True  # unknown partition: idle
