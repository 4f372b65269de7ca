"""The storage writes against the real database: migrations are idempotent, the upsert keeps the
best outcome per question and ignores duplicates, attempts follow the winning record, and the
topic admin is idempotent too."""

from __future__ import annotations

import time

from pipeline.events.emitter import NullEmitter
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.clients import make_admin
from pipeline.kafka.loop import Batch
from pipeline.kafka.records import Coordinates, Decoded
from pipeline.messages import Answer, Attempt, AttemptStatus, Envelope, ErrorClass, TerminalStatus
from pipeline.storage.db import Database
from pipeline.storage.migrate import migrate
from pipeline.storage.service import StorageHandler


def _env(exp: str, status: TerminalStatus, *, attempts: int, round_: int = 0) -> Envelope:
    now = time.time()
    env = Envelope(experiment_id=exp, question_id="q1", question={"title": "Why?"},
                   intended_at=now, created_at=now, round=round_)
    for n in range(1, attempts + 1):
        ok = n == attempts and status is not TerminalStatus.DEAD_LETTERED
        env.record_attempt(Attempt(round=round_, number=n,
                                   status=AttemptStatus.OK if ok else AttemptStatus.ERROR,
                                   error_class=None if ok else ErrorClass.OVERLOAD,
                                   started_at=now + n, ended_at=now + n + 0.5))
    env.record_hop("worker.received", now + 0.1)
    env.status = status
    if status is TerminalStatus.DEAD_LETTERED:
        env.dlq_reason = "retries_exhausted: test"
        env.record_hop("dead_lettered", now + attempts + 1)
    else:
        env.answer = Answer(text="answer", model="m")
        env.score = 0.9
        env.record_hop("flink.scored", now + attempts + 1)
    return env


def _store(handler: StorageHandler, env: Envelope, offset: int) -> None:
    topic = handler.topics.results.name  # the rig's own topic: its dead letters are cleaned up
    handler(Batch(records=[Decoded(env, Coordinates(topic, 0, offset), b"{}")]))


def test_upsert_keeps_the_best_outcome_and_ignores_duplicates(rig, new_experiment):
    exp = new_experiment("upsert")
    handler = StorageHandler(Database(rig.db_settings), rig.topics, NullEmitter())
    row = "SELECT terminal_state, llm_calls, durable_at FROM answers WHERE experiment_id=%s"
    attempts = "SELECT count(*) FROM attempts WHERE experiment_id=%s"

    dead = _env(exp, TerminalStatus.DEAD_LETTERED, attempts=3)
    _store(handler, dead, 1)
    assert rig.query(row, (exp,))[0][:2] == ("dead_lettered", 3)
    accepted = _env(exp, TerminalStatus.ACCEPTED, attempts=2)  # e.g. a replay that succeeded
    _store(handler, accepted, 2)
    state, calls, durable_at = rig.query(row, (exp,))[0]
    assert (state, calls) == ("accepted", 2) and rig.scalar(attempts, (exp,)) == 2
    _store(handler, accepted, 3)  # redelivered: nothing changes, not even durable_at
    assert rig.query(row, (exp,)) == [("accepted", 2, durable_at)]
    _store(handler, dead, 4)  # a worse outcome arriving late does not win
    assert rig.query(row, (exp,))[0][:2] == ("accepted", 2)
    assert rig.scalar(attempts, (exp,)) == 2
    # both outcomes of the dead letter are kept in dead_letters (one per record read)
    assert rig.scalar("SELECT count(*) FROM dead_letters WHERE experiment_id=%s", (exp,)) == 2

    # the generator's count survives every upsert
    rig.query("UPDATE answers SET access_count = 5 WHERE experiment_id=%s RETURNING 1", (exp,))
    _store(handler, _env(exp, TerminalStatus.ACCEPTED, attempts=1, round_=1), 5)
    assert rig.query("SELECT rounds, access_count FROM answers WHERE experiment_id=%s",
                     (exp,)) == [(1, 5)]


def test_migrations_and_topics_are_idempotent(rig):
    assert migrate(rig.db.conn()) == []  # the session fixture applied them already
    reports = ensure_topics(make_admin(rig.kafka), rig.topics)  # the rig created them
    assert {r.action for r in reports} == {"exists"}
    assert all(r.partitions == r.expected_partitions and not r.config_diff for r in reports)


def test_release_drops_only_a_placeholder(rig, new_experiment):
    """A failed send releases the placeholder a coalesced ask made; a stored outcome stays."""
    from pipeline.storage.cache import AnswerCache, CacheOutcome

    exp = new_experiment("release")
    cache = AnswerCache(Database(rig.db_settings, autocommit=True))
    assert cache.lookup(exp, "q9", in_flight=True, now=time.time()).outcome is CacheOutcome.COALESCED
    assert rig.scalar("SELECT count(*) FROM answers WHERE experiment_id=%s", (exp,)) == 1
    assert cache.release(exp, "q9") == 1
    assert cache.lookup(exp, "q9", in_flight=False, now=time.time()).outcome is CacheOutcome.MISS

    handler = StorageHandler(Database(rig.db_settings), rig.topics, NullEmitter())
    _store(handler, _env(exp, TerminalStatus.ACCEPTED, attempts=1), 1)
    assert cache.release(exp, "q1") == 0
    assert rig.query("SELECT terminal_state FROM answers WHERE experiment_id=%s AND question_id='q1'",
                     (exp,)) == [("accepted",)]
