"""The stack's PostgreSQL (brought up by the `endpoints` fixture), migrated; unique experiment ids
whose rows are deleted after each test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg2
import pytest

from harness.stack import probes
from pipeline.storage.db import Database
from pipeline.storage.migrate import migrate
from pipeline.storage.settings import DatabaseSettings

TABLES = ("answers", "attempts", "events", "dead_letters")


@pytest.fixture(scope="session")
def db_settings(endpoints) -> DatabaseSettings:
    settings = DatabaseSettings(dsn=endpoints.db_dsn)
    dsn = settings.dsn.get_secret_value()

    def reachable() -> probes.ProbeResult:
        try:
            psycopg2.connect(dsn, connect_timeout=3).close()
        except psycopg2.OperationalError as exc:
            return probes.ProbeResult(False, str(exc).strip()[:200])
        return probes.ProbeResult(True)

    probes.wait_until("PostgreSQL", reachable, timeout_s=60)
    with Database(settings, application_name="test-collect-migrate") as db:
        migrate(db.conn())
    return settings


@pytest.fixture
def new_experiment(db_settings: DatabaseSettings) -> Iterator[Callable[[str], str]]:
    """Factory of unique experiment ids; every row they own is deleted after the test."""
    made: list[str] = []

    def make(name: str = "collect") -> str:
        exp = f"test-{name}-{uuid.uuid4().hex[:10]}"
        made.append(exp)
        return exp

    yield make
    if made:
        with Database(db_settings, application_name="test-collect-cleanup") as db:
            conn = db.conn()
            with conn, conn.cursor() as cur:
                for table in TABLES:
                    cur.execute(f"DELETE FROM {table} WHERE experiment_id = ANY(%s)", (made,))
                cur.execute("DELETE FROM experiments WHERE id = ANY(%s)", (made,))
