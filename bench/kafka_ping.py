"""Raw Kafka round trips on the pipeline's broker with the pipeline's own clients (the client
factory of ``pipeline.kafka.clients``: idempotent acks=all producer, manual-commit consumer): the
floor under every hop the pipeline makes through Kafka.

One record at a time (a ping: the next is sent when the previous came back), to a private topic
with the spec of qa.questions; the topic is deleted afterwards. Per ping: produce -> acknowledged
(the generator's `producer_send` floor) and produce -> consumed (one hop through Kafka).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from pipeline.kafka.admin import delete_topics, ensure_topics
from pipeline.kafka.clients import make_admin, make_consumer, make_producer
from pipeline.kafka.produce import produce
from pipeline.kafka.settings import KafkaSettings
from pipeline.topics import load_topics
from pipeline.waiting import wait_until


@dataclass
class Pings:
    acked_s: list[float] = field(default_factory=list)
    consumed_s: list[float] = field(default_factory=list)


def ping(n: int = 200, timeout_s: float = 10.0, kafka: KafkaSettings | None = None) -> Pings:
    """N round trips; raises TimeoutError when one does not come back within TIMEOUT_S."""
    kafka = kafka or KafkaSettings()
    topic = load_topics(prefix=f"benchping{uuid.uuid4().hex[:6]}.").questions
    admin = make_admin(kafka)
    ensure_topics(admin, [topic])
    producer = make_producer(kafka, "bench-ping")
    consumer = make_consumer(kafka, f"{topic.name}.ping", "bench-ping")
    out = Pings()
    try:
        consumer.subscribe([topic.name])
        wait_until(lambda: consumer.poll(0.1) is None and consumer.assignment(), 60,
                   what=f"no partitions of {topic.name} assigned within 60 s")
        for i in range(n):
            value = str(i).encode()
            t0 = time.perf_counter()
            produce(producer, topic.name, value, value,
                    on_delivery=lambda err, _msg, t0=t0: out.acked_s.append(
                        time.perf_counter() - t0) if err is None else None)
            deadline = t0 + timeout_s
            while True:
                producer.poll(0)
                msg = consumer.poll(0.002)
                if msg is not None and msg.error() is None and msg.value() == value:
                    out.consumed_s.append(time.perf_counter() - t0)
                    break
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"ping {i} did not come back within {timeout_s} s")
        producer.flush(10)
    finally:
        consumer.close()
        delete_topics(admin, [topic.name])
    return out
