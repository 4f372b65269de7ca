"""run_load with fake Kafka, a fake cache and a fake clock: records carry their intended time even
when the generator runs late, cache hits never reach Kafka, every send is acknowledged."""

from __future__ import annotations

import threading

import pytest
from pipeline_fakes import FakeProducer

from pipeline.datasets import synthesize
from pipeline.events.emitter import RecordingEmitter
from pipeline.generator.load import CACHE_COALESCED, run_load
from pipeline.generator.settings import GeneratorSettings
from pipeline.messages import decode
from pipeline.storage.cache import CacheOutcome, CacheResult
from pipeline.topics import load_topics

TOPICS = load_topics(prefix="")


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_000_000.0 + self.now

    def sleep(self, s: float) -> None:
        self.now += s


class FakeCache:
    """Answers for ids in ``answered``; each lookup costs ``cost`` seconds of fake time."""

    def __init__(self, time: FakeTime, answered: set[str], cost: float = 0.0) -> None:
        self.time, self.answered, self.cost = time, answered, cost
        self.lookups: list[tuple[str, bool]] = []
        self.released: list[str] = []

    def release(self, experiment_id: str, question_id: str, *, deadline_s: float = 0.0) -> int:
        self.released.append(question_id)
        return 0

    def lookup(self, experiment_id: str, question_id: str, *, in_flight: bool, now: float,
               deadline_s: float = 0.0):
        self.time.now += self.cost
        self.lookups.append((question_id, in_flight))
        if question_id in self.answered:
            return CacheResult(CacheOutcome.HIT, 2, "accepted", "cached", 0.9)
        if in_flight:
            return CacheResult(CacheOutcome.COALESCED, 2, None)
        return CacheResult(CacheOutcome.MISS)


def _run(time: FakeTime, cache: FakeCache, questions, **kw):
    producer, emitter = FakeProducer(), RecordingEmitter(stage="generator", clock=time.wall)
    summary = run_load("exp", questions, {"kind": "constant", "rate": 10}, {"max_rounds": 1},
                       settings=GeneratorSettings(start_delay_s=0), topics=TOPICS,
                       producer=producer, cache=cache, emitter=emitter,
                       monotonic=time.monotonic, sleep=time.sleep, wall=time.wall, **kw)
    return summary, producer, emitter


def test_records_carry_the_intended_time_even_when_late() -> None:
    time = FakeTime()
    questions = list(synthesize(20, seed=1))
    cache = FakeCache(time, set(), cost=0.25)  # a slow check: the generator falls behind
    summary, producer, emitter = _run(time, cache, questions, count=20)
    sent = [decode(v) for _, v, _ in producer.produced]
    assert [e.send_seq for e in sent] == list(range(20))
    # 10/s schedule: send k is meant for t = k * 0.1 s, whatever the generator's lateness
    assert [e.intended_at for e in sent] == pytest.approx([1_000_000.0 + k * 0.1 for k in range(20)])
    assert all(e.created_at >= e.intended_at for e in sent)
    assert sent[-1].created_at - sent[-1].intended_at == pytest.approx(20 * 0.25 - 1.9)
    assert summary.lag["max_lag_s"] == pytest.approx(19 * 0.15)  # behind when send 19 was due
    assert (summary.sent, summary.acknowledged, summary.failed) == (20, 20, 0)
    assert summary.acknowledged_questions == 20
    assert all(e.policy.max_rounds == 1 and e.hops[0].name == "generator.sent" for e in sent)
    hops = [e for e in emitter.events if e.kind == "hop"]
    assert len(hops) == 20 and all(e.attrs["hop"] == "generator.sent" for e in hops)


def test_cache_hits_and_coalesced_repeats_do_not_reach_kafka() -> None:
    time = FakeTime()
    questions = list(synthesize(5, seed=2))
    answered = {questions[0].id, questions[1].id}
    cache = FakeCache(time, answered)
    summary, producer, emitter = _run(time, cache, questions, count=30, repeat_share=0.5, seed=3)
    sent_ids = [decode(v).question_id for _, v, _ in producer.produced]
    assert len(sent_ids) == len(set(sent_ids)) == summary.sent <= 3  # never twice, never cached
    assert not answered & set(sent_ids)
    assert summary.asked == 30 == summary.sent + summary.cache_hits + summary.coalesced
    kinds = [e.kind for e in emitter.events]
    assert kinds.count("cache_hit") == summary.cache_hits > 0
    assert kinds.count(CACHE_COALESCED) == summary.coalesced > 0
    # the cache was told which questions were already in flight: those sent before
    for i, (qid, in_flight) in enumerate(cache.lookups):
        earlier = {q for q, _ in cache.lookups[:i]}
        assert in_flight == (qid in sent_ids and qid in earlier)


def test_acknowledged_questions_counts_each_question_once() -> None:
    """With the cache off a repeat is sent again: two records, one question (one answers row)."""
    time = FakeTime()
    questions = list(synthesize(3, seed=1))
    producer, emitter = FakeProducer(), RecordingEmitter(stage="generator", clock=time.wall)
    summary = run_load("exp", questions, {"kind": "constant", "rate": 10}, count=12,
                       repeat_share=0.5, seed=3,
                       settings=GeneratorSettings(start_delay_s=0, cache_scope="off"),
                       topics=TOPICS, producer=producer, emitter=emitter,
                       monotonic=time.monotonic, sleep=time.sleep, wall=time.wall)
    sent_ids = [decode(v).question_id for _, v, _ in producer.produced]
    assert summary.sent == summary.acknowledged == 12 > len(set(sent_ids))
    assert summary.acknowledged_questions == len(set(sent_ids))


def test_failed_sends_are_counted() -> None:
    time = FakeTime()
    producer = FakeProducer(fail=True)
    summary = run_load("exp", list(synthesize(3, seed=1)), {"kind": "constant", "rate": 100},
                       settings=GeneratorSettings(start_delay_s=0), topics=TOPICS,
                       producer=producer, cache=FakeCache(time, set()),
                       emitter=RecordingEmitter(), monotonic=time.monotonic, sleep=time.sleep,
                       wall=time.wall)
    assert (summary.sent, summary.acknowledged, summary.failed) == (3, 0, 3)
    assert summary.acknowledged_questions == 0


def test_stop_ends_the_schedule_early() -> None:
    time = FakeTime()
    stop = threading.Event()
    stop.set()
    summary, producer, _ = _run(time, FakeCache(time, set()), list(synthesize(3, seed=1)),
                                count=3, stop=stop)
    assert summary.stopped_early and producer.produced == []


class SlowAckProducer(FakeProducer):
    """The broker acknowledges each record ``rtt`` seconds (fake time) after it is produced;
    ``poll(timeout)`` waits in fake time for the next acknowledgement, up to ``timeout``."""

    def __init__(self, time: FakeTime, rtt: float) -> None:
        super().__init__()
        self.time, self.rtt = time, rtt
        self.due: list[float] = []

    def produce(self, topic: str, value: bytes | None = None, key: bytes | None = None,
                on_delivery=None, **kw) -> None:
        super().produce(topic, value, key, on_delivery, **kw)
        self.due.append(self.time.now + self.rtt)

    def poll(self, timeout: float = 0) -> int:
        if not self.due:
            self.time.now += timeout  # nothing to serve: the whole timeout passes
        elif self.due[0] > self.time.now:
            self.time.now = min(self.due[0], self.time.now + timeout)
        served = 0
        while self.due and self.due[0] <= self.time.now:
            self.due.pop(0)
            cb, msg = self._pending.pop(0)
            cb(None, msg)
            served += 1
        return served

    def flush(self, timeout: float = 0) -> int:
        while self.due:
            self.poll(self.due[-1] - self.time.now)
        return 0


@pytest.mark.parametrize("serve_acks", [True, False])
def test_acknowledgements_are_timestamped_when_they_arrive(serve_acks: bool) -> None:
    """Waiting for the next send serves delivery reports: the sent hop is the ack's time (5 ms
    after the send), not the next send's (100 ms later at 10/s) as with a plain sleep."""
    time = FakeTime()
    producer = SlowAckProducer(time, rtt=0.005)
    emitter = RecordingEmitter(stage="generator", clock=time.wall)
    run_load("exp", list(synthesize(5, seed=2)), {"kind": "constant", "rate": 10}, {},
             settings=GeneratorSettings(start_delay_s=0, cache_scope="off"), topics=TOPICS,
             producer=producer, emitter=emitter, monotonic=time.monotonic, wall=time.wall,
             sleep=None if serve_acks else time.sleep)
    sent = [e for e in emitter.events if e.attrs.get("hop") == "generator.sent"]
    assert len(sent) == 5
    delays = [round(e.ts - e.attrs["intended_at"], 6) for e in sent]
    if serve_acks:
        assert delays == [0.005] * 5
    else:
        assert delays[:4] == [0.1] * 4  # noticed at the next send


def test_a_failed_send_is_forgotten_so_the_next_ask_sends_it_again() -> None:
    """Kafka never acknowledged it: it is not in the pipeline, so a repeat must not be coalesced
    onto it (that pass would never end), and its placeholder, if any, is released."""
    time = FakeTime()
    producer, cache = FakeProducer(fail=True), FakeCache(time, set())
    q = list(synthesize(1, seed=1))
    summary = run_load("exp", q, {"kind": "constant", "rate": 10}, {}, count=3,
                       settings=GeneratorSettings(start_delay_s=0), topics=TOPICS,
                       producer=producer, cache=cache, emitter=RecordingEmitter(),
                       monotonic=time.monotonic, sleep=time.sleep, wall=time.wall)
    assert (summary.sent, summary.failed, summary.coalesced) == (3, 3, 0)
    assert cache.lookups == [(q[0].id, False)] * 3  # never "in flight"
    assert cache.released == [q[0].id] * 3
