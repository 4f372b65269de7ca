"""The producer rides out a broker restart: librdkafka retries every retriable error until
message.timeout.ms; a send that finally fails is counted and logged with its topic and partition."""

from __future__ import annotations

import logging

from pipeline_fakes import FakeProducer

from pipeline.datasets import synthesize
from pipeline.events.emitter import RecordingEmitter
from pipeline.generator.load import run_load
from pipeline.generator.settings import GeneratorSettings
from pipeline.kafka.clients import DELIVERY_TIMEOUT_MS, producer_config
from pipeline.kafka.settings import KafkaSettings
from pipeline.topics import load_topics


def test_retries_are_bounded_by_time_not_count_and_idempotent() -> None:
    conf = producer_config(KafkaSettings(bootstrap="127.0.0.1:9092"), "generator")
    assert conf["enable.idempotence"] is True and conf["acks"] == "all"
    assert conf["message.timeout.ms"] == DELIVERY_TIMEOUT_MS >= 60_000  # longer than a restart
    assert conf["retries"] == 2_147_483_647
    assert conf["retry.backoff.ms"] <= conf["retry.backoff.max.ms"]


def test_the_settings_extra_and_overrides_still_win() -> None:
    settings = KafkaSettings(bootstrap="127.0.0.1:9092", extra={"message.timeout.ms": "5000"})
    assert producer_config(settings, "x")["message.timeout.ms"] == "5000"
    assert producer_config(settings, "x", **{"message.timeout.ms": 1000})["message.timeout.ms"] == 1000


def test_a_send_that_finally_fails_is_counted_and_logged_with_topic_and_partition(caplog) -> None:
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    with caplog.at_level(logging.ERROR, logger="pipeline.generator.load"):
        summary = run_load("exp", list(synthesize(2, seed=1)), {"kind": "constant", "rate": 10},
                           settings=GeneratorSettings(start_delay_s=0, cache_scope="off"),
                           topics=load_topics(prefix=""), producer=FakeProducer(fail=True),
                           emitter=RecordingEmitter(), monotonic=lambda: now[0], sleep=sleep,
                           wall=lambda: 1_000.0 + now[0])
    assert (summary.sent, summary.failed, summary.acknowledged) == (2, 2, 0)
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 2
    assert all("to qa.questions [partition 0] failed: broker down (code -1)" in m for m in failures)
