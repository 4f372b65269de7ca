"""A broker outage does not flood the logs: one line per kind per window, with the count held back."""

from __future__ import annotations

import logging

import pytest

from pipeline.kafka.log_throttle import RepeatThrottle, leading_args_key

pytestmark = pytest.mark.unit


def _record(*args: object, level: int = logging.ERROR, name: str = "rd") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, "%s [%s] %s", args, None)


def _fail(client: str = "rdkafka#producer-1", text: str = "Connect failed (after 0ms)") -> logging.LogRecord:
    return _record("FAIL", client, text)


def test_first_passes_repeats_are_held_back_and_counted_after_the_window() -> None:
    now = [0.0]
    throttle = RepeatThrottle(leading_args_key(2), window_s=30, clock=lambda: now[0])
    assert throttle.filter(_fail())
    passed = []
    for _ in range(599):  # 30 s of reconnects every 50 ms
        now[0] += 0.05
        passed.append(throttle.filter(_fail(text=f"failed (after {int(now[0])}ms)")))
    assert not any(passed)
    now[0] += 1
    late = _fail()
    assert throttle.filter(late)
    assert late.getMessage().endswith("(599 similar held back in the last 31 s)")
    now[0] += 31
    quiet = _fail()
    assert throttle.filter(quiet) and "held back" not in quiet.getMessage()


def test_kinds_are_told_apart_by_the_key_not_the_text() -> None:
    throttle = RepeatThrottle(leading_args_key(2), clock=lambda: 0.0)
    assert throttle.filter(_fail("rdkafka#producer-1"))
    assert throttle.filter(_fail("rdkafka#consumer-2"))
    assert throttle.filter(_record("REQTMOUT", "rdkafka#producer-1", "timed out"))
    assert throttle.filter(_fail("rdkafka#producer-1", text="x")) is False


def test_a_record_without_args_is_keyed_by_its_message() -> None:
    throttle = RepeatThrottle(leading_args_key(1), clock=lambda: 0.0)
    plain = logging.LogRecord("n", logging.WARNING, __file__, 1, "broker down", None, None)
    assert throttle.filter(plain) and not throttle.filter(plain)


def test_the_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window_s"):
        RepeatThrottle(leading_args_key(1), window_s=0)


def test_client_errors_are_throttled_per_code_and_fatal_ones_always_logged(caplog, monkeypatch) -> None:
    from confluent_kafka import KafkaError

    from pipeline.kafka import clients

    # a fresh throttle: another test's client errors within the window must not count here
    monkeypatch.setattr(clients._client_error_log, "filters",
                        [RepeatThrottle(leading_args_key(1))])
    with caplog.at_level(logging.WARNING):
        for _ in range(50):
            clients._error_cb(KafkaError(KafkaError._TRANSPORT, "Connect refused"))
        clients._error_cb(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
        for _ in range(3):
            clients._error_cb(KafkaError(KafkaError._FATAL, "fenced", fatal=True))
    lines = [r.getMessage() for r in caplog.records]
    assert sum("Connect refused" in m for m in lines) == 1
    assert sum("brokers are down" in m for m in lines) == 1
    assert sum(m.startswith("fatal kafka client error") for m in lines) == 3


def test_librdkafka_log_lines_go_through_a_throttle_keyed_by_facility_and_client() -> None:
    from pipeline.kafka import clients

    throttles = [f for f in clients._librdkafka_log.filters if isinstance(f, RepeatThrottle)]
    assert len(throttles) == 1
    assert clients.producer_config(clients.KafkaSettings(bootstrap="x:1"), "p")["logger"] is clients._librdkafka_log
