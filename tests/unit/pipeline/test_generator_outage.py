"""run_load while PostgreSQL restarts under it (issue 13, item 5): the real AnswerCache and
Database over a fake server, fake Kafka, a fake clock. A short outage costs late sends (their
intended times unchanged); a long one costs cache hits (``cache_unavailable``); neither stops the
load."""

from __future__ import annotations

import logging

import pytest
from db_fakes import FakeServer
from pipeline_fakes import FakeProducer

from pipeline.datasets import synthesize
from pipeline.events.emitter import RecordingEmitter
from pipeline.generator.load import run_load
from pipeline.generator.settings import GeneratorSettings
from pipeline.messages import decode
from pipeline.storage.cache import AnswerCache
from pipeline.storage.db import Database
from pipeline.storage.settings import DatabaseSettings
from pipeline.topics import load_topics

TOPICS = load_topics(prefix="")
EPOCH = 1_000_000.0


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return EPOCH + self.now

    def sleep(self, s: float) -> None:
        self.now += s


def _answered(ids: set[str]):
    """Questions in ``ids`` have a stored answer; every other check is a miss."""

    def answer(sql: str, params: dict) -> list[tuple]:
        if "UPDATE answers" in sql and params["question_id"] in ids:
            return [("accepted", "stored", 0.9, 2, params["experiment_id"])]
        return []

    return answer


def _load(time: FakeTime, server: FakeServer, questions, *, rate: float, count: int,
          retry_s: float = 60.0, **kw):
    producer = FakeProducer()
    db = Database(DatabaseSettings(), application_name="generator", autocommit=True,
                  connect=server.connect, clock=time.monotonic, sleep=time.sleep)
    summary = run_load("exp", questions, {"kind": "constant", "rate": rate}, {}, count=count,
                       settings=GeneratorSettings(start_delay_s=0, db_retry_s=retry_s,
                                                  db_probe_every_s=1.0),
                       topics=TOPICS, producer=producer, cache=AnswerCache(db),
                       emitter=RecordingEmitter(stage="generator", clock=time.wall),
                       monotonic=time.monotonic, sleep=time.sleep, wall=time.wall, **kw)
    return summary, [decode(v) for _, v, _ in producer.produced]


def test_a_restart_shorter_than_the_bound_makes_sends_late_not_lost() -> None:
    time = FakeTime()
    server = FakeServer(answer=_answered(set()), clock=time.monotonic, outages=[(3.0, 8.0)])
    questions = list(synthesize(100, seed=5))
    summary, sent = _load(time, server, questions, rate=10, count=100)
    assert (summary.asked, summary.sent, summary.acknowledged) == (100, 100, 100)
    assert summary.cache_unavailable == 0 and summary.failed == 0
    # every record keeps its place on the schedule; the ones due during the outage are late
    assert [e.intended_at for e in sent] == pytest.approx([EPOCH + k * 0.1 for k in range(100)])
    late = [e for e in sent if e.created_at - e.intended_at > 0.5]
    assert late and all(EPOCH + 3.0 <= e.intended_at < EPOCH + 8.5 for e in late)
    assert all(e.created_at >= EPOCH + 8.0 for e in late)
    assert summary.lag["max_lag_s"] >= 4.5  # measured, not hidden
    assert server.refused > 0


def test_a_restart_longer_than_the_bound_sends_misses_and_counts_them(caplog) -> None:
    time = FakeTime()
    server = FakeServer(answer=_answered(set()), clock=time.monotonic, outages=[(3.0, 20.0)])
    questions = list(synthesize(300, seed=6))
    with caplog.at_level(logging.WARNING, logger="pipeline.generator.cache_guard"):
        summary, sent = _load(time, server, questions, rate=10, count=300, retry_s=5.0)
    assert (summary.asked, summary.sent, summary.acknowledged) == (300, 300, 300)
    # from 3 s (the bound passed at 8 s) to the first probe after 20 s: about 170 asks
    assert 160 <= summary.cache_unavailable <= 180
    assert summary.to_dict()["cache_unavailable"] == summary.cache_unavailable
    assert [e.intended_at for e in sent] == pytest.approx([EPOCH + k * 0.1 for k in range(300)])
    assert time.now < 31.0  # the schedule caught up: one wait of the bound, not one per ask
    messages = [r.getMessage() for r in caplog.records if r.name.endswith("cache_guard")]
    assert len(messages) == 2 and "unavailable" in messages[0] and "back after" in messages[1]


def test_cache_hits_come_back_after_the_outage() -> None:
    time = FakeTime()
    questions = list(synthesize(20, seed=7))
    server = FakeServer(answer=_answered({q.id for q in questions}), clock=time.monotonic,
                        outages=[(0.5, 30.0)])
    summary, _ = _load(time, server, questions, rate=10, count=40, retry_s=1.0,
                       repeat_share=0.5, seed=1)
    assert summary.asked == 40 == summary.sent + summary.cache_hits + summary.coalesced
    assert summary.cache_hits > 0 and summary.cache_unavailable > 0
    # asks before the outage and after it hit the stored answers; those during it went out
    assert summary.sent == summary.cache_unavailable
