"""The real Flink session cluster runs a PyFlink job that reads and writes Kafka via the connector."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from flink.client import FlinkClient
from pipeline.waiting import WaitTimeout, wait_until

JOB = Path(__file__).parent / "jobs" / "copy_topic.py"


@pytest.fixture
def flink(endpoints):
    client = FlinkClient()
    yield client
    client.close()


def test_pyflink_job_copies_a_topic_through_the_kafka_connector(endpoints, new_topic, flink):
    source, sink = new_topic("flink-in"), new_topic("flink-out")
    producer = Producer({"bootstrap.servers": endpoints.kafka_bootstrap})
    words = [f"record-{i}" for i in range(50)]
    for word in words:
        producer.produce(source, value=word)
    assert producer.flush(30) == 0

    job_id = flink.submit(JOB, [endpoints.kafka_bootstrap, source, sink, f"g-{uuid.uuid4().hex}"])
    try:
        flink.wait_until_running(job_id, timeout_s=120)
        consumer = Consumer({"bootstrap.servers": endpoints.kafka_bootstrap,
                             "group.id": f"t-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"})
        consumer.subscribe([sink])
        got: list[str] = []

        def all_out() -> bool:  # consume blocks up to 1 s: no pause needed between calls
            got.extend(m.value().decode() for m in consumer.consume(100, timeout=1.0)
                       if not m.error())
            return len(got) >= len(words)

        with contextlib.suppress(WaitTimeout):  # compared below, with the difference shown
            wait_until(all_out, 120, pause_s=0.0, what="every word upper-cased")
        consumer.close()
        assert sorted(got) == sorted(w.upper() for w in words)
    finally:
        flink.cancel(job_id)
        flink.wait_for_state(job_id, {"CANCELED"}, timeout_s=60)
