"""The experiments table: one row per experiment (spec, status, timestamps, git revision)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from psycopg2.extensions import connection as PgConnection
from psycopg2.extras import RealDictCursor

from pipeline.storage.db import Database

STATUSES = ("created", "running", "finished", "failed", "stopped")


class ExperimentStore:
    """Every statement is idempotent, so each is retried on a fresh connection for up to
    ``retry_s`` when the database dropped the connection (a restart during a load leaves the
    runner's connection dead by the time the load ends; :meth:`Database.run`)."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time, *,
                 retry_s: float = 30.0) -> None:
        self.db = db
        self.clock = clock
        self.retry_s = retry_s

    def _execute(self, sql: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
        def execute(conn: PgConnection) -> dict[str, Any] | None:
            with conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
                cur.execute(sql, params)
                row = cur.fetchone() if cur.description else None
            return dict(row) if row else None

        return self.db.run(execute, self.retry_s, what="experiments table")

    def create(self, experiment_id: str, name: str, spec: Mapping[str, Any] | None = None, *,
               git_revision: str | None = None) -> dict[str, Any]:
        """Register an experiment (idempotent: an existing row keeps its status and times)."""
        row = self._execute(
            """INSERT INTO experiments (id, name, spec, git_revision, created_at)
               VALUES (%(id)s, %(name)s, %(spec)s::jsonb, %(git)s, %(now)s)
               ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, spec = EXCLUDED.spec,
                   git_revision = COALESCE(EXCLUDED.git_revision, experiments.git_revision)
               RETURNING *""",
            {"id": experiment_id, "name": name, "spec": json.dumps(dict(spec or {})),
             "git": git_revision, "now": self.clock()},
        )
        assert row is not None
        return row

    def mark_started(self, experiment_id: str) -> None:
        self._execute(
            "UPDATE experiments SET status = 'running', started_at = %(now)s WHERE id = %(id)s",
            {"id": experiment_id, "now": self.clock()},
        )

    def mark_finished(self, experiment_id: str, status: str = "finished",
                      summary: Mapping[str, Any] | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        self._execute(
            """UPDATE experiments SET status = %(status)s, finished_at = %(now)s,
                   summary = COALESCE(%(summary)s::jsonb, summary) WHERE id = %(id)s""",
            {"id": experiment_id, "status": status, "now": self.clock(),
             "summary": None if summary is None else json.dumps(dict(summary))},
        )

    def get(self, experiment_id: str) -> dict[str, Any] | None:
        return self._execute("SELECT * FROM experiments WHERE id = %(id)s", {"id": experiment_id})
