"""A stand-in for a PostgreSQL server behind psycopg2 (unit tests only).

``FakeServer.connect`` has ``psycopg2.connect``'s signature, so it is what a test hands to
:class:`pipeline.storage.db.Database` (``connect=server.connect``). The server fails the way a
restarted PostgreSQL does:

* ``fail_connects=N``: the next N connection attempts are refused;
* ``fail_queries=N``: the next N statements find their connection dropped (the connection is
  then closed, as psycopg2 marks it);
* ``outages=[(start, end), ...]`` on the test's clock: while down, connections are refused;
  a connection opened before an outage started is dropped at its next statement.

``answer(sql, params)`` gives each statement's rows (a list of tuples); ``columns`` names them
for ``cursor.description``. Every statement run is kept in ``executed``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg2

Answer = Callable[[str, Any], Sequence[tuple]]


@dataclass
class _Column:
    name: str


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self.rows: list[tuple] = []
        self.rowcount = -1
        self.description: list[_Column] | None = None

    def execute(self, sql: str, params: Any = None) -> None:
        self.conn.server.before_statement(self.conn)
        self.conn.server.executed.append((sql, params))
        self.rows = list(self.conn.server.answer(sql, params))
        self.rowcount = len(self.rows)
        self.description = [_Column(n) for n in self.conn.server.columns(sql)]

    def fetchone(self) -> tuple | None:
        return self.rows.pop(0) if self.rows else None

    def fetchall(self) -> list[tuple]:
        rows, self.rows = self.rows, []
        return rows

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class FakeConnection:
    def __init__(self, server: FakeServer, opened_at: float) -> None:
        self.server = server
        self.opened_at = opened_at
        self.closed = 0
        self.autocommit = False
        self.session: dict[str, Any] = {}
        self.commits = 0
        self.rollbacks = 0

    def cursor(self, **kw: Any) -> FakeCursor:  # cursor_factory: rows are what answer gives
        if self.closed:
            raise psycopg2.InterfaceError("connection already closed")
        return FakeCursor(self)

    def set_session(self, **kw: Any) -> None:
        self.session.update(kw)

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        if self.closed:
            raise psycopg2.InterfaceError("connection already closed")
        self.rollbacks += 1

    def close(self) -> None:
        self.closed = 1

    def __enter__(self) -> FakeConnection:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()


@dataclass
class FakeServer:
    answer: Answer = lambda sql, params: []
    columns: Callable[[str], Sequence[str]] = lambda sql: ()
    clock: Callable[[], float] = lambda: 0.0
    fail_connects: int = 0
    fail_queries: int = 0
    outages: list[tuple[float, float]] = field(default_factory=list)
    connects: int = 0
    refused: int = 0
    connections: list[FakeConnection] = field(default_factory=list)
    executed: list[tuple[str, Any]] = field(default_factory=list)

    def down(self) -> bool:
        now = self.clock()
        return any(start <= now < end for start, end in self.outages)

    def connect(self, dsn: str, **kw: Any) -> FakeConnection:
        self.connects += 1
        if self.fail_connects > 0 or self.down():
            self.fail_connects = max(0, self.fail_connects - 1)
            self.refused += 1
            raise psycopg2.OperationalError(
                'connection to server at "127.0.0.1", port 5432 failed: Connection refused\n'
                "\tIs the server running on that host and accepting TCP/IP connections?")
        conn = FakeConnection(self, self.clock())
        self.connections.append(conn)
        return conn

    def before_statement(self, conn: FakeConnection) -> None:
        now = self.clock()
        restarted = any(conn.opened_at < start <= now for start, _ in self.outages)
        if self.fail_queries > 0 or restarted or self.down():
            self.fail_queries = max(0, self.fail_queries - 1)
            conn.closed = 2
            raise psycopg2.OperationalError(
                "server closed the connection unexpectedly\n"
                "\tThis probably means the server terminated abnormally")
