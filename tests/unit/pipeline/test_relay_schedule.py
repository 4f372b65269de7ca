"""The relay's schedule of parked partitions."""

from __future__ import annotations

import pytest

from pipeline.relay.schedule import DueSchedule


def test_due_partitions_come_back_in_due_order() -> None:
    s = DueSchedule()
    s.park("t", 0, 10, due_at=105.0)
    s.park("t", 1, 3, due_at=101.0)
    s.park("u", 0, 0, due_at=103.0)
    assert s.next_due() == 101.0
    assert s.due(100.0) == []
    assert [(p.topic, p.partition, p.offset) for p in s.due(103.0)] == [("t", 1, 3), ("u", 0, 0)]
    assert ("t", 0) in s and len(s) == 1
    assert s.next_due() == 105.0


def test_wait_is_bounded_by_next_due_and_max() -> None:
    s = DueSchedule()
    assert s.wait_s(now=0.0, max_wait_s=1.0) == 1.0  # nothing parked: block up to the max
    s.park("t", 0, 0, due_at=10.3)
    # wake when due, rounded up to whole milliseconds (librdkafka's unit) so as not to spin
    assert s.wait_s(now=10.0, max_wait_s=1.0) == pytest.approx(0.301)
    assert s.wait_s(now=10.2999, max_wait_s=1.0) == pytest.approx(0.002)
    assert s.wait_s(now=11.0, max_wait_s=1.0) == 0.0  # overdue: do not block


def test_dropped_partitions_are_forgotten() -> None:
    s = DueSchedule()
    s.park("t", 0, 0, due_at=5.0)
    s.park("t", 1, 0, due_at=6.0)
    assert [p.partition for p in s.drop([("t", 0), ("t", 9)])] == [0]
    assert s.next_due() == 6.0
    assert [p.partition for p in s.due(10.0)] == [1]
    assert s.next_due() is None


def test_a_partition_parks_once() -> None:
    s = DueSchedule()
    s.park("t", 0, 0, due_at=5.0)
    with pytest.raises(ValueError):
        s.park("t", 0, 1, due_at=6.0)
