"""A PostgreSQL connection that reconnects after a failure (psycopg2), and the one bounded retry
of a database operation across a restart of the server (:meth:`Database.run`).

A PostgreSQL restart shows up in a client as :class:`psycopg2.OperationalError` ("server closed
the connection unexpectedly", "terminating connection due to administrator command", then
"connection refused" while it is down) or :class:`psycopg2.InterfaceError` ("connection already
closed"). ``Database.run(fn, deadline_s)`` drops the connection after such an error, waits with a
growing pause and calls ``fn`` again on a fresh connection, until it succeeds or the deadline
passes; then it raises :class:`DatabaseUnavailable` (an ``OperationalError``), which names the
database (never its password) and chains the last error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg2
from psycopg2.extensions import connection as PgConnection
from psycopg2.extensions import parse_dsn

from pipeline.storage.settings import DatabaseSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: errors that mean "the connection or the server went away": worth a reconnect and a retry
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (psycopg2.OperationalError, psycopg2.InterfaceError)

Connect = Callable[..., Any]
"""``psycopg2.connect``'s signature: ``connect(dsn, connect_timeout=..., application_name=...)``."""


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (libpq's run on with hints), or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class DatabaseUnavailable(psycopg2.OperationalError):
    """The database stayed unreachable until a retry deadline passed.

    An ``OperationalError`` (what psycopg2 raises for a lost server), so every handler written
    for a database restart (``except psycopg2.Error``) handles it too."""

    def __init__(self, database: str, what: str, waited_s: float, attempts: int,
                 last_error: BaseException) -> None:
        super().__init__(f"{what}: database {database} unreachable for {waited_s:.1f} s "
                         f"({attempts} attempt(s)); last error: {first_line(last_error)}")
        self.database = database
        self.waited_s = waited_s
        self.attempts = attempts


def describe_dsn(dsn: str) -> str:
    """``dbname at host:port`` (as user) of a libpq DSN or URL, without its password."""
    try:
        parts = parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        return "(unparsable DSN)"
    name = parts.get("dbname", "?")
    where = parts.get("host", "local socket")
    if "port" in parts:
        where += f":{parts['port']}"
    user = f" as {parts['user']}" if "user" in parts else ""
    return f"{name!r} at {where}{user}"


class Database:
    """Holds one connection; ``conn()`` returns it, reconnecting if it was closed or broken.

    ``connect``, ``clock`` (monotonic seconds) and ``sleep`` are the seams of the tests: a fake
    ``connect`` hands out fake connections that fail as a restarted server would.
    """

    def __init__(self, settings: DatabaseSettings | None = None, *, application_name: str = "pipeline",
                 autocommit: bool = False, connect: Connect = psycopg2.connect,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        self.settings = settings or DatabaseSettings()
        self.application_name = application_name
        self.autocommit = autocommit
        self._connect = connect
        self.clock = clock
        self.sleep = sleep
        self._conn: PgConnection | None = None

    @property
    def name(self) -> str:
        """The database as it appears in messages: name, host and port, never the password."""
        return describe_dsn(self.settings.dsn.get_secret_value())

    def conn(self) -> PgConnection:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect(
                self.settings.dsn.get_secret_value(),
                connect_timeout=self.settings.connect_timeout_s,
                application_name=self.application_name,
            )
            self._conn.autocommit = self.autocommit
            log.debug("connected to the database as %s", self.application_name)
        return self._conn

    def reset(self) -> None:
        """Drop the connection after an error (the next ``conn()`` reconnects)."""
        if self._conn is not None and not self._conn.closed:
            try:
                self._conn.rollback()
            except psycopg2.Error as exc:
                log.warning("rollback failed (%s); reconnecting", exc)
                self._conn.close()
        if self._conn is not None and self._conn.closed:
            self._conn = None

    def discard(self) -> None:
        """Close the connection without a rollback: after a connection-level error it is not
        worth keeping (a rollback on a half-dead socket may hang), and the next ``conn()``
        opens a fresh one."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            try:
                conn.close()
            except psycopg2.Error as exc:  # pragma: no cover - close of a broken socket
                log.debug("close of a broken connection failed: %s", exc)

    def run(self, fn: Callable[[PgConnection], T], deadline_s: float, *, what: str = "query",
            first_pause_s: float = 0.1, max_pause_s: float = 2.0, backoff: float = 2.0) -> T:
        """``fn(conn)``, retried on a fresh connection after a connection-level error
        (:data:`TRANSIENT_ERRORS`) until it succeeds or ``deadline_s`` seconds have passed.

        The first retry follows at once (a connection found dead is usually one the server
        dropped while idle: a reconnect is all it needs); later ones wait ``first_pause_s``,
        growing by ``backoff`` up to ``max_pause_s``, never past the deadline. ``deadline_s=0``
        is one attempt. Other errors (a bad query, a constraint) propagate at once.

        ``fn`` must be safe to run again: a statement whose commit reached the server just
        before the connection broke runs twice (an access count bumped twice, at worst).
        Raises :class:`DatabaseUnavailable` (from the last error) when the deadline passes.
        """
        start = self.clock()
        end = start + max(0.0, deadline_s)
        pause = 0.0
        attempts = 0
        while True:
            attempts += 1
            try:
                result = fn(self.conn())
            except TRANSIENT_ERRORS as exc:
                self.discard()
                now = self.clock()
                if attempts == 1 and deadline_s > 0:  # with no retry to come, the caller logs
                    log.warning("%s on %s failed (%s); reconnecting for up to %.0f s", what,
                                self.name, first_line(exc), deadline_s)
                if now >= end:
                    raise DatabaseUnavailable(self.name, what, now - start, attempts, exc) from exc
                if pause > 0:
                    self.sleep(min(pause, end - now))
                pause = min(max(pause * backoff, first_pause_s), max_pause_s)
                continue
            if attempts > 1:
                log.info("%s on %s succeeded after %d attempts (%.1f s)", what, self.name,
                         attempts, self.clock() - start)
            return result

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
