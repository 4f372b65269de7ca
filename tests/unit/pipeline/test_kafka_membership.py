"""A consumer that lost its partitions must be assigned again within the deadline."""

from __future__ import annotations

import pytest
from pipeline_fakes import FakeConsumer

from pipeline.kafka.loop import ConsumeLoop
from pipeline.kafka.membership import GroupRejoinTimeout, Membership

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_no_deadline_without_a_loss_and_a_rejoin_in_time_clears_it() -> None:
    clock = Clock()
    m = Membership("storage", rejoin_timeout_s=120, clock=clock)
    clock.now += 10_000
    m.check()  # never lost: nothing to wait for
    m.lost()
    clock.now += 119
    m.check()
    m.assigned()  # an assignment (even an empty one) means the consumer is back in its group
    clock.now += 1_000
    m.check()


def test_an_overdue_rejoin_raises_naming_the_stage_and_the_wait() -> None:
    clock = Clock()
    m = Membership("storage", rejoin_timeout_s=120, clock=clock)
    m.lost()
    clock.now += 60
    m.lost()  # a second loss does not move the deadline
    clock.now += 61
    with pytest.raises(GroupRejoinTimeout, match=r"storage: no partitions assigned 121 s after"):
        m.check()


def test_the_consume_loop_ends_with_the_error_and_leaves_the_stuck_client_open() -> None:
    clock = Clock()
    consumer = FakeConsumer()
    closed: list[bool] = []
    consumer.close = lambda: closed.append(True)  # type: ignore[method-assign]
    loop = ConsumeLoop(consumer, ["r"], lambda m: m, lambda batch: None,  # type: ignore[arg-type]
                       stage="storage")
    loop.membership = Membership("storage", rejoin_timeout_s=5, clock=clock)
    loop._on_lost(consumer, [])  # type: ignore[arg-type]
    loop.run_once()  # within the deadline: consumes as usual
    clock.now += 6
    with pytest.raises(GroupRejoinTimeout):
        loop.run()
    assert closed == []
