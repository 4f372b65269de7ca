"""Helpers of the scoring-job integration tests: building answers, producing, reading topics,
and a job that is always cancelled."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from flink.control import ScoringJobControl
from flink.job_config import JobConfig
from pipeline.messages import Envelope, Event, decode, decode_dlq_record, decode_event, encode
from pipeline.topics import TopicCatalog, load_topics
from pipeline.waiting import wait_until

T0 = 1_718_000_000.0
WARM_UP = "warmup"  # experiment id of the readiness probes


@contextmanager
def private_topics(bootstrap: str) -> Iterator[TopicCatalog]:
    """The pipeline's fixed topics under a unique prefix, deleted afterwards."""
    cat = load_topics(prefix=f"t{uuid.uuid4().hex[:8]}.")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    specs = [cat.answers, cat.questions, cat.results, cat.dlq, cat.events]
    for future in admin.create_topics([NewTopic(**s.new_topic_kwargs()) for s in specs]).values():
        future.result(timeout=30)
    try:
        yield cat
    finally:
        for future in admin.delete_topics([s.name for s in specs]).values():
            future.result(timeout=30)


def wait_until_consuming(config: JobConfig, timeout_s: float = 120) -> None:
    """Readiness of the whole job, probed end to end: a warm-up answer comes out in qa.results.
    (The tasks report RUNNING before their Python workers have started.)"""
    probe = answer(f"warmup-{uuid.uuid4().hex[:8]}", "probe", experiment_id=WARM_UP, threshold=0.0)
    results = Reader(config.bootstrap_servers, config.topics.results)
    try:
        produce(config.bootstrap_servers, config.topics.answers, [probe])
        results.wait_for(
            lambda r: probe.question_id in {e.question_id for e in r.envelopes(WARM_UP)},
            timeout_s,
            "the warm-up answer",
        )
    finally:
        results.close()


@contextmanager
def running_job(
    control: ScoringJobControl, config: JobConfig, *, warm_up: bool = True, **submit: Any
) -> Iterator[str]:
    """Submit the job, wait until it consumes, yield its id; cancel every job of its name on
    the way out."""
    submit.setdefault("parallelism", 1)
    try:
        job_id = control.submit(config, **submit)
        if warm_up:
            wait_until_consuming(config)
        yield job_id
    finally:
        control.stop(config.job_name)


def answer(
    question_id: str,
    text: str,
    *,
    reference: str = "Rayleigh scattering of sunlight by air molecules",
    experiment_id: str = "exp-it",
    round: int = 0,
    threshold: float = 0.5,
    max_rounds: int = 2,
    scorer: str = "lexical",
) -> Envelope:
    return Envelope.model_validate(
        {
            "experiment_id": experiment_id,
            "question_id": question_id,
            "send_seq": 0,
            "round": round,
            "attempt": 1,
            "question": {"title": f"question {question_id}"},
            "reference_answer": reference,
            "policy": {"score_threshold": threshold, "max_rounds": max_rounds, "scorer": scorer},
            "intended_at": T0,
            "created_at": T0,
            "answer": {"text": text, "model": "test"},
        }
    )


def produce(bootstrap: str, topic: str, records: Iterable[Envelope | bytes]) -> int:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
    )
    count = 0
    for record in records:
        if isinstance(record, Envelope):
            producer.produce(topic, key=record.kafka_key(), value=encode(record))
        else:
            producer.produce(topic, value=record)
        count += 1
    assert producer.flush(30) == 0
    return count


@dataclass
class Reader:
    """Reads a topic from the beginning, keeping every record (value, key) it has seen."""

    bootstrap: str
    topic: str
    records: list[tuple[bytes, bytes | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"t-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self._consumer.subscribe([self.topic])

    def poll(self, timeout_s: float = 0.5) -> list[tuple[bytes, bytes | None]]:
        fresh = [
            (m.value(), m.key())
            for m in self._consumer.consume(500, timeout=timeout_s)
            if m.error() is None
        ]
        self.records += fresh
        return fresh

    def wait_for(self, done: Callable[[Reader], bool], timeout_s: float, what: str) -> None:
        """Read until ``done(self)``; each check reads what arrived (up to 0.5 s), so there is
        no pause between checks."""

        def read_and_check() -> bool:
            if done(self):
                return True
            self.poll()
            return done(self)

        wait_until(read_and_check, timeout_s, pause_s=0.0, error=AssertionError,
                   what=lambda: f"{self.topic}: {what} not seen within {timeout_s:.0f} s "
                                f"({len(self.records)} records read)")

    def envelopes(self, experiment: str | None = None) -> list[Envelope]:
        """Decoded records (of one experiment if given; warm-up probes left out)."""
        found = [decode(v) for v, _ in self.records]
        return [
            e
            for e in found
            if e.experiment_id == experiment or (experiment is None and e.experiment_id != WARM_UP)
        ]

    def events(self, experiment: str | None = None) -> list[Event]:
        found = [decode_event(v) for v, _ in self.records]
        return [
            e
            for e in found
            if e.experiment_id == experiment or (experiment is None and e.experiment_id != WARM_UP)
        ]

    def dlq(self) -> list[Any]:
        return [decode_dlq_record(v) for v, _ in self.records]

    def close(self) -> None:
        self._consumer.close()
