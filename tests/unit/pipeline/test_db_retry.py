"""Database.run: a database operation retried on a fresh connection across a PostgreSQL restart,
against a deadline, on a fake clock; and the answer cache's checks that go through it."""

from __future__ import annotations

import logging

import psycopg2
import pytest
from db_fakes import FakeServer

from pipeline.storage.cache import AnswerCache, CacheOutcome
from pipeline.storage.db import Database, DatabaseUnavailable, describe_dsn
from pipeline.storage.settings import DatabaseSettings

DSN = "postgresql://harness:s3cret@127.0.0.1:5432/harness"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(round(s, 6))
        self.now += s


def _db(server: FakeServer, clock: Clock, autocommit: bool = True) -> Database:
    return Database(DatabaseSettings(dsn=DSN), autocommit=autocommit, connect=server.connect,
                    clock=clock, sleep=clock.sleep)


def _one(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        return cur.fetchone()[0]


def _answer_one(sql: str, params: object) -> list[tuple]:
    return [(1,)]


def test_a_dropped_connection_is_replaced_and_the_operation_retried() -> None:
    clock = Clock()
    server = FakeServer(answer=_answer_one, clock=clock)
    db = _db(server, clock)
    assert db.run(_one, 60) == 1
    first = server.connections[0]
    server.fail_queries = 1  # the server restarted while the connection was idle
    assert db.run(_one, 60) == 1
    assert first.closed and len(server.connections) == 2
    assert clock.sleeps == []  # a connection found dead is replaced at once


def test_refused_connections_are_retried_with_a_growing_pause() -> None:
    clock = Clock()
    server = FakeServer(answer=_answer_one, clock=clock, fail_connects=5)
    assert _db(server, clock).run(_one, 60) == 1
    assert server.connects == 6
    assert clock.sleeps == [0.1, 0.2, 0.4, 0.8]  # first retry at once, then backoff


def test_the_pause_is_capped() -> None:
    clock = Clock()
    server = FakeServer(answer=_answer_one, clock=clock, fail_connects=9)
    _db(server, clock).run(_one, 60, max_pause_s=1.0)
    assert clock.sleeps == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]


def test_an_outage_on_the_clock_is_waited_out() -> None:
    clock = Clock()
    server = FakeServer(answer=_answer_one, clock=clock, outages=[(1.0, 13.0)])
    db = _db(server, clock)
    assert db.run(_one, 60) == 1
    clock.now = 2.0
    assert db.run(_one, 60) == 1
    assert 13.0 <= clock.now <= 15.0  # back within one (capped) pause of the restart's end
    assert all(s <= 2.0 for s in clock.sleeps)


def test_past_the_deadline_it_gives_up_naming_the_database_not_the_password(caplog) -> None:
    clock = Clock()
    server = FakeServer(answer=_answer_one, clock=clock, fail_connects=1_000)
    with caplog.at_level(logging.WARNING, logger="pipeline.storage.db"), \
            pytest.raises(DatabaseUnavailable) as info:
        _db(server, clock).run(_one, 10, what="cache lookup")
    message = str(info.value)
    assert message.startswith("cache lookup: database 'harness' at 127.0.0.1:5432 as harness "
                              "unreachable for 10.0 s")
    assert "Connection refused" in message and "s3cret" not in message
    assert isinstance(info.value.__cause__, psycopg2.OperationalError)
    assert isinstance(info.value, psycopg2.OperationalError)  # what restart handlers catch
    assert clock.now == pytest.approx(10.0)  # never sleeps past the deadline
    assert info.value.attempts == server.connects
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "s3cret" not in warnings[0].getMessage()


def test_deadline_zero_is_one_attempt() -> None:
    clock = Clock()
    server = FakeServer(answer=_answer_one, clock=clock, fail_connects=1)
    db = _db(server, clock)
    with pytest.raises(DatabaseUnavailable):
        db.run(_one, 0)
    assert server.connects == 1 and clock.sleeps == []
    assert db.run(_one, 0) == 1  # the next call connects afresh


def test_other_errors_are_not_retried() -> None:
    clock = Clock()
    server = FakeServer(clock=clock)
    calls = []

    def bad(conn):
        calls.append(conn)
        raise psycopg2.errors.UndefinedTable("relation \"nope\" does not exist")

    with pytest.raises(psycopg2.errors.UndefinedTable):
        _db(server, clock).run(bad, 60)
    assert len(calls) == 1


def test_describe_dsn() -> None:
    assert describe_dsn(DSN) == "'harness' at 127.0.0.1:5432 as harness"
    assert describe_dsn("dbname=x host=/run/pg") == "'x' at /run/pg"
    assert describe_dsn("dbname=x") == "'x' at local socket"
    assert describe_dsn("not a dsn at all") == "(unparsable DSN)"


# -- the answer cache over it --------------------------------------------------------------------

def _cache_answer(answered: set[str]):
    def answer(sql: str, params: dict) -> list[tuple]:
        if "UPDATE answers" in sql and params["question_id"] in answered:
            return [("accepted", "stored answer", 0.9, 3, params["experiment_id"])]
        if "DELETE FROM answers" in sql:
            return [()]  # one row deleted
        return []
    return answer


def test_a_cache_lookup_survives_a_restart() -> None:
    clock = Clock()
    server = FakeServer(answer=_cache_answer({"q1"}), clock=clock)
    cache = AnswerCache(_db(server, clock))
    assert cache.lookup("exp", "q1", in_flight=False, now=1.0).outcome is CacheOutcome.HIT
    server.fail_queries, server.fail_connects = 1, 3  # dropped, then refused three times
    result = cache.lookup("exp", "q1", in_flight=False, now=2.0, deadline_s=60)
    assert result.outcome is CacheOutcome.HIT and result.access_count == 3
    assert cache.lookup("exp", "q2", in_flight=False, now=3.0).outcome is CacheOutcome.MISS


def test_a_cache_lookup_gives_up_after_its_deadline() -> None:
    clock = Clock()
    server = FakeServer(answer=_cache_answer(set()), clock=clock, fail_connects=1_000)
    cache = AnswerCache(_db(server, clock))
    with pytest.raises(DatabaseUnavailable, match="cache lookup of q1"):
        cache.lookup("exp", "q1", in_flight=False, now=1.0, deadline_s=5)
    assert clock.now == pytest.approx(5.0)


def test_a_cache_release_is_retried_too() -> None:
    clock = Clock()
    server = FakeServer(answer=_cache_answer(set()), clock=clock, fail_connects=2)
    cache = AnswerCache(_db(server, clock))
    assert cache.release("exp", "q1", deadline_s=60) == 1
    assert server.connects == 3
