"""Commit consumed offsets: the one commit path of every consuming service.

One convention everywhere: the offset committed for a partition is the **next offset to read**
(the last processed offset + 1), which is what Kafka stores and where a restarted consumer
starts. Callers hand over ``{(topic, partition): next_offset}``.

A synchronous commit can fail as a whole (``KafkaException``: no coordinator, a rebalance in
progress) or per partition: the call returns the partitions with an ``error`` set on those the
broker refused (typically a partition this member no longer owns). Both are logged naming
topic, partition and offset, and reported in :class:`CommitResult` so that the caller can count
them or offer the offsets again. A failed commit is not fatal for an at-least-once service: the
partition's next owner re-reads from the last committed offset.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import KafkaException, TopicPartition

log = logging.getLogger(__name__)

PartitionKey = tuple[str, int]


class Committer(Protocol):
    """What :func:`commit_offsets` needs of a consumer (a confluent-kafka ``Consumer``)."""

    def commit(self, *args: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class CommitResult:
    """Which offsets were committed and which were not (with the reason)."""

    committed: dict[PartitionKey, int] = field(default_factory=dict)
    failed: dict[PartitionKey, int] = field(default_factory=dict)
    errors: dict[PartitionKey, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def _where(key: PartitionKey, offset: int) -> str:
    return f"{key[0]}[{key[1]}]@{offset}"


def _reason(error: Any) -> str:
    describe = getattr(error, "str", None)
    return describe() if callable(describe) else str(error)


def commit_offsets(consumer: Committer, offsets: Mapping[PartitionKey, int], *,
                   stage: str) -> CommitResult:
    """Commit ``offsets`` (next offset to read, per partition) synchronously; never raises for
    a refused commit, logs each failure, and returns what went through."""
    if not offsets:
        return CommitResult()
    wanted = dict(offsets)
    try:
        answer = consumer.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in wanted.items()], asynchronous=False)
    except KafkaException as exc:
        reason = _reason(exc.args[0]) if exc.args else str(exc)
        log.warning("%s: commit of %s failed: %s", stage,
                    ", ".join(_where(k, o) for k, o in wanted.items()), reason)
        return CommitResult(failed=wanted, errors=dict.fromkeys(wanted, reason))
    failed: dict[PartitionKey, int] = {}
    errors: dict[PartitionKey, str] = {}
    for tp in answer or ():
        if tp.error is None:
            continue
        key = (tp.topic, tp.partition)
        offset = wanted.get(key, tp.offset)
        failed[key], errors[key] = offset, _reason(tp.error)
        log.warning("%s: commit of %s failed: %s", stage, _where(key, offset), errors[key])
    committed = {k: o for k, o in wanted.items() if k not in failed}
    return CommitResult(committed=committed, failed=failed, errors=errors)


__all__ = ["CommitResult", "commit_offsets"]
