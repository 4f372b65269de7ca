"""consume_ready: the first record's wait only, never a wait for the batch to fill."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from pipeline.kafka.fetch import consume_ready

pytestmark = pytest.mark.unit


@dataclass
class ScriptedConsumer:
    """``fetched``: records already in the client; ``arriving``: what a waiting poll receives."""

    fetched: list[str] = field(default_factory=list)
    arriving: list[str] = field(default_factory=list)
    calls: list[tuple[str, int, float]] = field(default_factory=list)

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[str]:
        self.calls.append(("consume", num_messages, timeout))
        taken, self.fetched = self.fetched[:num_messages], self.fetched[num_messages:]
        return taken

    def poll(self, timeout: float = -1) -> str | None:
        self.calls.append(("poll", 1, timeout))
        if not self.arriving:
            return None
        self.fetched.extend(self.arriving[1:])
        first, self.arriving = self.arriving[0], []
        return first


def test_records_already_fetched_are_returned_without_any_wait() -> None:
    consumer = ScriptedConsumer(fetched=["a", "b", "c"])
    assert consume_ready(consumer, 2, 0.5) == ["a", "b"]  # type: ignore[arg-type]
    assert consumer.calls == [("consume", 2, 0)]


def test_waits_only_for_the_first_record_then_takes_what_came_with_it() -> None:
    consumer = ScriptedConsumer(arriving=["a", "b", "c"])
    assert consume_ready(consumer, 500, 0.5) == ["a", "b", "c"]  # type: ignore[arg-type]
    assert consumer.calls == [("consume", 500, 0), ("poll", 1, 0.5), ("consume", 499, 0)]


def test_nothing_within_the_timeout_is_an_empty_batch() -> None:
    consumer = ScriptedConsumer()
    assert consume_ready(consumer, 10, 0.2) == []  # type: ignore[arg-type]
    assert consumer.calls == [("consume", 10, 0), ("poll", 1, 0.2)]


def test_a_zero_timeout_never_waits_and_a_batch_of_one_takes_one() -> None:
    assert consume_ready(ScriptedConsumer(arriving=["a"]), 10, 0) == []  # type: ignore[arg-type]
    consumer = ScriptedConsumer(arriving=["a", "b"])
    assert consume_ready(consumer, 1, 0.1) == ["a"]  # type: ignore[arg-type]
    assert consumer.fetched == ["b"]
