"""A PostgreSQL connection that reconnects after a failure (psycopg2)."""

from __future__ import annotations

import logging

import psycopg2
from psycopg2.extensions import connection as PgConnection

from pipeline.storage.settings import DatabaseSettings

log = logging.getLogger(__name__)


class Database:
    """Holds one connection; ``conn()`` returns it, reconnecting if it was closed or broken."""

    def __init__(self, settings: DatabaseSettings | None = None, *, application_name: str = "pipeline",
                 autocommit: bool = False) -> None:
        self.settings = settings or DatabaseSettings()
        self.application_name = application_name
        self.autocommit = autocommit
        self._conn: PgConnection | None = None

    def conn(self) -> PgConnection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg2.connect(
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

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
