"""The relay releases each deferred record at its due time without holding up other partitions
and without spinning while it waits."""

from __future__ import annotations

import time

from pipeline_rig import read_topic, wait_for

from pipeline.datasets import synthesize
from pipeline.kafka.clients import make_producer
from pipeline.messages import Envelope, decode, encode


def _envelope(exp: str, seed: int, due_at: float) -> Envelope:
    q = next(iter(synthesize(1, seed=seed)))
    now = time.time()
    return Envelope(experiment_id=exp, intended_at=now, created_at=now, due_at=due_at,
                    **q.envelope_fields())


def test_parked_partition_does_not_block_the_others(rig, new_experiment):
    exp = new_experiment("relay")
    tier = rig.topics.tier("5s").topic.name
    rig.start_relay()
    wait_for("the relay's assignment", lambda: rig.relay is not None
             and {(tier, 0), (tier, 1)} <= rig.relay.assigned, timeout_s=30, interval_s=0.05)
    now = time.time()
    late = _envelope(exp, 1, now + 12.0)  # partition 0, head: due in 12 s
    behind = _envelope(exp, 2, now)  # partition 0, behind the late head
    ready = _envelope(exp, 3, now)  # partition 1: due now
    producer = make_producer(rig.kafka, "test-relay-input")
    for env, partition in ((late, 0), (behind, 0), (ready, 1)):
        producer.produce(tier, value=encode(env), key=env.kafka_key(), partition=partition)
    assert producer.flush(10) == 0
    out = read_topic(rig.kafka, rig.topics.questions.name, expect=3, timeout_s=30)
    arrived = {decode(m.value()).question_id: m.timestamp()[1] / 1000 for m in out}
    assert set(arrived) == {late.question_id, behind.question_id, ready.question_id}
    assert arrived[ready.question_id] < late.due_at - 6  # not held up by partition 0
    assert arrived[late.question_id] >= late.due_at - 0.01  # released no earlier than due
    assert arrived[behind.question_id] >= arrived[late.question_id]  # order kept in a partition
    released = [decode(m.value()) for m in out]
    assert all(env.due_at is None and env.hops[-1].name == "relay.released" for env in released)
    # Waiting is not spinning: a handful of polls while partition 0 was parked.
    polls = rig.heartbeats["relay"].counters["polls"]
    assert polls < 200, polls
    rig.check_alive()
