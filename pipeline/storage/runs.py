"""The runs table: one row per run of an experiment spec, its lifecycle shared by every process
that takes part in it (the experiment DAG's tasks, its triggers, the detached load process,
`harness run`). See migrations/0002_runs.sql for the phases and statuses.

Every write is a single idempotent UPDATE, so a retried step, a restarted triggerer or a second
load process changes nothing it should not:

- :meth:`RunStore.claim_loader` succeeds for one process only (a claim retried after a lost
  reply finds the row claimed by the same process and succeeds again);
- :meth:`RunStore.end` writes the first ending only (a later ``failed`` does not overwrite a
  ``finished``, nor the reverse), except :meth:`RunStore.reopen` for a deliberate re-run.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from psycopg2.extensions import connection as PgConnection
from psycopg2.extras import RealDictCursor

from pipeline.storage.db import Database

Phase = Literal["registered", "waiting", "loading", "draining", "drained", "reported"]
Status = Literal["running", "finished", "failed", "stopped"]
PHASES: tuple[str, ...] = ("registered", "waiting", "loading", "draining", "drained", "reported")
ENDED: tuple[str, ...] = ("finished", "failed", "stopped")


@dataclass(frozen=True)
class RunRow:
    """One row of the runs table."""

    label: str
    name: str
    spec: dict[str, Any]
    experiment_ids: list[str]
    phase: str
    status: str
    reason: str | None
    dag_run_id: str | None
    load_requested_at: float | None
    loader_pid: int | None
    loader_host: str | None
    heartbeat_at: float | None
    sim_counters: dict[str, Any] | None
    load_started_at: float | None
    load_finished_at: float | None
    drained_at: float | None
    in_flight: int | None
    report_dir: str | None
    created_at: float
    updated_at: float
    finished_at: float | None

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunRow:
        return cls(**{name: row.get(name) for name in cls.__dataclass_fields__})


class RunStore:
    """Each statement is retried on a fresh connection for up to ``retry_s`` when the database
    dropped the connection (:meth:`Database.run`): a load process whose connection sat idle
    through a PostgreSQL restart still records its phases."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time, *,
                 retry_s: float = 30.0) -> None:
        self.db = db
        self.clock = clock
        self.retry_s = retry_s

    def _one(self, sql: str, params: Mapping[str, Any]) -> RunRow | None:
        def one(conn: PgConnection) -> RunRow | None:
            with conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
                cur.execute(sql, {"now": self.clock(), **params})
                row = cur.fetchone() if cur.description else None
            return RunRow.from_row(row) if row else None

        return self.db.run(one, self.retry_s, what="runs table")

    def _many(self, sql: str, params: Mapping[str, Any]) -> list[RunRow]:
        def many(conn: PgConnection) -> list[RunRow]:
            with conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
                cur.execute(sql, {"now": self.clock(), **params})
                return [RunRow.from_row(row) for row in cur.fetchall()]

        return self.db.run(many, self.retry_s, what="runs table")

    def create(self, label: str, name: str, spec: Mapping[str, Any],
               experiment_ids: Sequence[str], dag_run_id: str | None = None) -> RunRow:
        """Register a run; idempotent: an existing row is returned as it is (a retried
        registration must not reset a run that is already loading)."""
        self._one(
            """INSERT INTO runs (label, name, spec, experiment_ids, dag_run_id, created_at,
                                 updated_at)
               VALUES (%(label)s, %(name)s, %(spec)s::jsonb, %(ids)s::jsonb, %(dag_run_id)s,
                       %(now)s, %(now)s)
               ON CONFLICT (label) DO NOTHING""",
            {"label": label, "name": name, "spec": json.dumps(dict(spec)),
             "ids": json.dumps(list(experiment_ids)), "dag_run_id": dag_run_id},
        )
        row = self.get(label)
        assert row is not None
        return row

    def get(self, label: str) -> RunRow | None:
        return self._one("SELECT * FROM runs WHERE label = %(label)s", {"label": label})

    def claim_loader(self, label: str, pid: int, host: str | None = None) -> bool:
        """Make PID the run's load process; False when another process has claimed it (or the
        run has ended): the caller must not send anything."""
        row = self._one(
            """UPDATE runs SET loader_pid = %(pid)s, loader_host = %(host)s,
                   heartbeat_at = %(now)s, updated_at = %(now)s
               WHERE label = %(label)s AND status = 'running'
                 AND (loader_pid IS NULL OR (loader_pid = %(pid)s AND loader_host = %(host)s))
               RETURNING *""",
            {"label": label, "pid": pid, "host": host or socket.gethostname()},
        )
        return row is not None

    def request_load(self, label: str) -> None:
        """Note that a step is starting the run's load process now (the wait measures how long
        the process takes to claim the run from this moment)."""
        self._one("UPDATE runs SET load_requested_at = %(now)s, updated_at = %(now)s "
                  "WHERE label = %(label)s", {"label": label})

    def heartbeat(self, label: str) -> None:
        self._one("UPDATE runs SET heartbeat_at = %(now)s WHERE label = %(label)s",
                  {"label": label})

    def set_phase(self, label: str, phase: Phase, **fields: Any) -> None:
        """Move a running run to PHASE, setting FIELDS (columns of the table) too."""
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}")
        allowed = {"sim_counters", "load_started_at", "load_finished_at", "drained_at",
                   "in_flight", "report_dir"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot set {sorted(unknown)} with set_phase")
        sets = "".join(f", {name} = %({name})s" for name in fields)
        values = {name: json.dumps(v) if name == "sim_counters" and v is not None else v
                  for name, v in fields.items()}
        self._one(f"UPDATE runs SET phase = %(phase)s, updated_at = %(now)s{sets} "
                  "WHERE label = %(label)s", {"label": label, "phase": phase, **values})

    def end(self, label: str, status: Status, reason: str | None = None,
            in_flight: int | None = None) -> RunRow | None:
        """End the run with STATUS (finished | failed | stopped) and REASON. Only the first
        ending counts: the row returned is the run as it ended."""
        if status not in ENDED:
            raise ValueError(f"status must be one of {ENDED}")
        self._one(
            """UPDATE runs SET status = %(status)s, reason = %(reason)s,
                   in_flight = COALESCE(%(in_flight)s, in_flight),
                   finished_at = %(now)s, updated_at = %(now)s
               WHERE label = %(label)s AND status = 'running'""",
            {"label": label, "status": status, "reason": reason, "in_flight": in_flight},
        )
        return self.get(label)

    def reopen(self, label: str) -> None:
        """Forget a run's ending (for the report step: a run ended as failed by the report
        step itself is set again when the report is rebuilt)."""
        self._one("""UPDATE runs SET status = 'running', reason = NULL, finished_at = NULL,
                         updated_at = %(now)s WHERE label = %(label)s""", {"label": label})

    def record_report(self, label: str, report_dir: str) -> None:
        self._one("""UPDATE runs SET report_dir = %(dir)s, phase = 'reported',
                         updated_at = %(now)s WHERE label = %(label)s""",
                  {"label": label, "dir": report_dir})

    def active(self, exclude: str | None = None, since: float | None = None) -> list[RunRow]:
        """Runs other than EXCLUDE that are running, or that ended after SINCE (their questions
        may still be draining through the shared pipeline)."""
        return self._many(
            """SELECT * FROM runs
               WHERE label IS DISTINCT FROM %(exclude)s
                 AND (status = 'running' OR finished_at >= %(since)s)
               ORDER BY created_at""",
            {"exclude": exclude, "since": since if since is not None else self.clock()},
        )

    def previous_finished(self, name: str, before: float, exclude: str) -> RunRow | None:
        """The newest run named NAME created before BEFORE that finished and has a report."""
        return self._one(
            """SELECT * FROM runs WHERE name = %(name)s AND label <> %(exclude)s
                 AND status = 'finished' AND report_dir IS NOT NULL AND created_at < %(before)s
               ORDER BY created_at DESC LIMIT 1""",
            {"name": name, "before": before, "exclude": exclude},
        )


__all__ = ["ENDED", "PHASES", "Phase", "RunRow", "RunStore", "Status"]
