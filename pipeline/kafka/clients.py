"""Producer, consumer and admin client factories with the pipeline's delivery guarantees.

* Producers are idempotent with ``acks=all`` and a small linger: no duplicates from producer
  retries, and a record is acknowledged only once every in-sync replica has it. A broker restart
  is ridden out, not failed: librdkafka buffers the records and retries every retriable error
  (broker down, leader moved, request timed out) without limit of count until the record is
  ``message.timeout.ms`` old (:data:`DELIVERY_TIMEOUT_MS`); only then does the delivery report
  carry the error, which the caller counts as a failed send.
* Consumers never auto-commit (services commit after their outputs are durable), never
  auto-store offsets, start from the earliest offset of a new group, and use the
  cooperative-sticky assignor so a rebalance does not stop every member.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

from pipeline.kafka.log_throttle import RepeatThrottle, leading_args_key
from pipeline.kafka.settings import KafkaSettings

log = logging.getLogger(__name__)
# librdkafka's own log lines ("%s [%s] %s": facility, client name, text) and the client errors it
# retries by itself repeat every reconnect while a broker is down: one line per kind per window.
_librdkafka_log = logging.getLogger("pipeline.kafka.librdkafka")
_librdkafka_log.addFilter(RepeatThrottle(leading_args_key(2)))
_client_error_log = logging.getLogger("pipeline.kafka.client_errors")
_client_error_log.addFilter(RepeatThrottle(leading_args_key(1)))


def _error_cb(err: KafkaError) -> None:
    """Client-level errors (broker down, auth...): librdkafka retries the non-fatal ones itself,
    so they are logged as warnings, one per error code per window; a fatal one always at ERROR."""
    if err.fatal():
        log.error("fatal kafka client error: %s (code %s)", err.str(), err.code())
    else:
        _client_error_log.warning("kafka client error (code %s): %s", err.code(), err.str())


def _client_id(settings: KafkaSettings, name: str) -> str:
    return f"{settings.client_id_prefix}.{name}" if settings.client_id_prefix else name


def scoped_group_id(group_id: str, topic_prefix: str) -> str:
    """A consumer group id scoped by the topic prefix: pipelines on differently prefixed topics
    (tests, parallel experiments) never share a group, a static member id or committed offsets."""
    return f"{topic_prefix}{group_id}" if topic_prefix and not group_id.startswith(topic_prefix) else group_id


#: How long a record may wait for its acknowledgement, retries and broker restarts included
#: (librdkafka's default, spelled out): a broker away for less than this costs latency, not records.
DELIVERY_TIMEOUT_MS = 300_000


def producer_config(settings: KafkaSettings, client_id: str, **overrides: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {
        **settings.common_config(),
        "client.id": _client_id(settings, client_id),
        "enable.idempotence": True,  # retries neither duplicate nor reorder records
        "acks": "all",
        "message.timeout.ms": DELIVERY_TIMEOUT_MS,
        "retries": 2_147_483_647,  # bounded by message.timeout.ms, not by a count
        "retry.backoff.ms": 100,
        "retry.backoff.max.ms": 1_000,
        "linger.ms": settings.linger_ms,
        "compression.type": settings.compression,
        "message.max.bytes": settings.message_max_bytes,
        "error_cb": _error_cb,
        "logger": _librdkafka_log,
    }
    conf.update(settings.extra)
    conf.update(overrides)
    return conf


def consumer_config(
    settings: KafkaSettings, group_id: str, client_id: str, **overrides: Any
) -> dict[str, Any]:
    conf: dict[str, Any] = {
        **settings.common_config(),
        "client.id": _client_id(settings, client_id),
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": settings.session_timeout_ms,
        "max.poll.interval.ms": settings.max_poll_interval_ms,
        "error_cb": _error_cb,
        "logger": _librdkafka_log,
    }
    conf.update(settings.extra)
    conf.update(overrides)
    return conf


def make_producer(settings: KafkaSettings, client_id: str, **overrides: Any) -> Producer:
    """An idempotent, acks=all producer."""
    return Producer(producer_config(settings, client_id, **overrides))


def make_consumer(
    settings: KafkaSettings, group_id: str, client_id: str, **overrides: Any
) -> Consumer:
    """A manual-commit, cooperative-sticky consumer (not yet subscribed)."""
    return Consumer(consumer_config(settings, group_id, client_id, **overrides))


def make_admin(settings: KafkaSettings, **overrides: Any) -> AdminClient:
    conf = {**settings.common_config(), "error_cb": _error_cb, "logger": _librdkafka_log}
    conf.update(settings.extra)
    conf.update(overrides)
    return AdminClient(conf)
