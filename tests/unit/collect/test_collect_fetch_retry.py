"""The collector's snapshot read survives a PostgreSQL restart: a refused or dropped connection
is retried (the whole snapshot, on a fresh connection) for a bounded time, then the error names
the database, never its password."""

from __future__ import annotations

import pytest
from db_fakes import FakeServer

from experiments.collect_sql import EXPERIMENT, SERVER_VERSION, fetch_run
from pipeline.storage.db import DatabaseUnavailable

DSN = "postgresql://harness:s3cret@127.0.0.1:5432/harness"


def _server(**kw) -> FakeServer:
    def answer(sql: str, params: object) -> list[tuple]:
        return [("16.4",)] if sql == SERVER_VERSION else []

    def columns(sql: str) -> list[str]:
        return ["server_version"] if sql == SERVER_VERSION else ["id"]

    return FakeServer(answer=answer, columns=columns, **kw)


def test_refused_connections_are_retried() -> None:
    server = _server(fail_connects=2)
    raw = fetch_run(DSN, "exp-1", connect=server.connect, retry_s=30)
    assert raw.server_version == "16.4" and raw.experiment is None and raw.questions == []
    assert server.connects == 3
    conn = server.connections[-1]
    assert conn.session["readonly"] is True and conn.commits == 1 and conn.closed


def test_a_connection_dropped_mid_snapshot_reads_the_whole_snapshot_again() -> None:
    server = _server()
    server.fail_queries = 0
    calls = {"n": 0}
    before = server.before_statement

    def drop_the_third(conn) -> None:  # the server restarts after two queries
        calls["n"] += 1
        if calls["n"] == 3:
            server.fail_queries = 1
        before(conn)

    server.before_statement = drop_the_third  # type: ignore[method-assign]
    raw = fetch_run(DSN, "exp-1", connect=server.connect, retry_s=30)
    assert raw.server_version == "16.4"
    assert [sql for sql, _ in server.executed].count(EXPERIMENT) == 2  # one snapshot, from the top
    assert len(server.connections) == 2 and server.connections[0].closed == 2


def test_past_the_bound_the_error_names_the_database_not_the_password() -> None:
    server = _server(fail_connects=1_000)
    with pytest.raises(DatabaseUnavailable) as info:
        fetch_run(DSN, "exp-1", connect=server.connect, retry_s=0.05)
    message = str(info.value)
    assert message.startswith("collection of exp-1: database 'harness' at 127.0.0.1:5432")
    assert "Connection refused" in message and "s3cret" not in message
