"""Where a record came from, and the dead letter for one that did not decode."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from confluent_kafka import KafkaError, KafkaException, Message

from pipeline.messages import DeadLetter, DecodeError, build_dead_letter

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Coordinates:
    topic: str
    partition: int
    offset: int
    key: bytes | None = None

    @classmethod
    def of(cls, msg: Message) -> Coordinates:
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        if topic is None or partition is None or offset is None:
            raise ValueError("a consumed record without topic, partition or offset")
        key = msg.key()
        return cls(topic, partition, offset, key if isinstance(key, bytes) else None)

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(slots=True)
class Decoded(Generic[T]):
    """A record that decoded: its value, where it came from and its raw bytes."""

    value: T
    coords: Coordinates
    raw: bytes


def check_message_error(msg: Message, *, stage: str) -> bool:
    """True when ``msg`` carries an error instead of a record (logged, naming its coordinates);
    a fatal error raises ``KafkaException``. Partition EOF events are skipped silently."""
    err = msg.error()
    if err is None:
        return False
    if err.code() == KafkaError._PARTITION_EOF:
        return True
    where = f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"
    if err.fatal():
        log.error("%s: fatal consumer error at %s: %s", stage, where, err.str())
        raise KafkaException(err)
    log.warning("%s: consumer error at %s: %s", stage, where, err.str())
    return True


def dead_letter_for(
    raw: bytes | None,
    error: DecodeError | str,
    coords: Coordinates,
    *,
    stage: str,
    clock: Callable[[], float] = time.time,
) -> DeadLetter:
    """The qa.dlq record for an undecodable record at ``coords``."""
    return build_dead_letter(
        raw,
        reason=error,
        topic=coords.topic,
        partition=coords.partition,
        offset=coords.offset,
        key=coords.key,
        stage=stage,
        at=clock(),
    )


