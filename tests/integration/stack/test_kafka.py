"""The real Kafka broker: topics with partitions, and a thousand records through it."""

from __future__ import annotations

import contextlib
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from pipeline.waiting import WaitTimeout, wait_until


def test_topic_created_with_three_partitions(endpoints, new_topic):
    topic = new_topic("partitions", partitions=3)
    admin = AdminClient({"bootstrap.servers": endpoints.kafka_bootstrap})
    metadata = admin.list_topics(topic, timeout=10)
    assert len(metadata.topics[topic].partitions) == 3


def test_thousand_records_produced_and_consumed(endpoints, new_topic):
    topic = new_topic("roundtrip", partitions=3)
    producer = Producer({"bootstrap.servers": endpoints.kafka_bootstrap, "enable.idempotence": True,
                         "acks": "all"})
    sent = {f"key-{i}": f"value-{i}" for i in range(1000)}
    failures: list[str] = []
    for key, value in sent.items():
        producer.produce(topic, key=key, value=value,
                         on_delivery=lambda err, msg: failures.append(str(err)) if err else None)
    assert producer.flush(30) == 0
    assert failures == []

    consumer = Consumer({"bootstrap.servers": endpoints.kafka_bootstrap,
                         "group.id": f"test-{uuid.uuid4().hex}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    received: dict[str, str] = {}

    def all_received() -> bool:  # consume blocks up to 1 s: no pause needed between calls
        for message in consumer.consume(num_messages=500, timeout=1.0):
            assert message.error() is None, message.error()
            received[message.key().decode()] = message.value().decode()
        return len(received) >= len(sent)

    try:
        with contextlib.suppress(WaitTimeout):  # compared below, with the difference shown
            wait_until(all_received, 60, pause_s=0.0, what="every record")
    finally:
        consumer.close()
    assert received == sent
