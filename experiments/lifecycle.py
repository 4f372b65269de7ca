"""A run's lifecycle: what every waiting step decides, from the runs table and the pending count.

The experiment DAG's deferrable waits (their triggers run on Airflow's triggerer), `harness run`
and the detached load process all decide the same way, with the functions of this module:

- :func:`assess_drain`: is the run's load done and every question terminal (``drained``), did it
  fail (the load process died or reported an error), did its drain time out, or must we wait?
- :func:`pipeline_busy`: which other runs still have questions in the shared pipeline, so this
  run must wait before it sends its load (isolation between runs);
- :func:`acquire_pipeline`: the atomic step from waiting to loading: one run at a time holds the
  pipeline (a PostgreSQL advisory lock makes the check-and-set atomic);
- :func:`overlapping_runs`: after the fact, which runs had questions in the pipeline while this
  run's were (the report says so in its first lines).

Decisions are pure functions of a :class:`~pipeline.storage.runs.RunRow`, counts and the time, so
they are unit-tested without a database; the DB-backed helpers only gather those inputs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.storage.db import Database
from pipeline.storage.runs import RunRow, RunStore

log = logging.getLogger(__name__)

Outcome = Literal["wait", "drained", "failed"]

#: advisory lock id of the step that hands the shared pipeline to one run
_PIPELINE_LOCK = 0x71A_5705


class LifecycleSettings(BaseSettings):
    """How long a run's waits last, in seconds (environment prefix ``HARNESS_RUN_``)."""

    model_config = SettingsConfigDict(env_prefix="HARNESS_RUN_", extra="ignore")

    #: a load process whose heartbeat is older than this is dead
    loader_stale_s: float = 90.0
    #: a run registered this long ago whose load process never claimed it has failed to start
    loader_start_s: float = 180.0
    #: how long a run waits for other runs' questions to drain before it is refused
    isolation_timeout_s: float = 1800.0
    #: an ended run whose questions have not moved for this long no longer holds the pipeline
    #: (stuck questions would otherwise block every later run until its deadline)
    stale_activity_s: float = 600.0
    #: how often the waits poll
    poll_interval_s: float = 5.0
    #: where the detached load processes write their logs (default: <HARNESS_HOME>/logs/runs)
    log_dir: Path | None = None

    def loader_log_dir(self) -> Path:
        if self.log_dir is not None:
            return self.log_dir
        home = os.environ.get("HARNESS_HOME") or str(Path(__file__).resolve().parents[1] / ".state")
        return Path(home) / "logs" / "runs"


@dataclass(frozen=True)
class Assessment:
    """What a wait decides: keep waiting, the run drained, or the run failed (with why)."""

    outcome: Outcome
    message: str
    pending: int | None = None

    @property
    def done(self) -> bool:
        return self.outcome != "wait"

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "message": self.message, "pending": self.pending}


def assess_drain(run: RunRow, pending: int | None, now: float, drain_timeout_s: float,
                 settings: LifecycleSettings | None = None) -> Assessment:
    """The drain wait's decision. PENDING is the run's last repeat's pending count (None when the
    load has not finished: it is not computed then)."""
    settings = settings or LifecycleSettings()
    if run.ended:
        if run.status == "finished":
            return Assessment("drained", "the run has finished", 0)
        return Assessment("failed", run.reason or f"the run {run.status}", run.in_flight)
    if run.phase in ("drained", "reported"):
        return Assessment("drained", "every question is terminal", 0)
    if run.phase == "draining":
        if pending == 0:
            return Assessment("drained", "every question is terminal", 0)
        waited = now - (run.load_finished_at or now)
        if waited > drain_timeout_s:
            return Assessment(
                "failed", f"drain timed out: {pending} question(s) still in flight {waited:.0f} s "
                f"after the load ended (drain_timeout_s={drain_timeout_s:g})", pending)
        return Assessment("wait", f"{pending} question(s) in flight, {waited:.0f} s after the "
                          "load ended", pending)
    # registered, waiting, loading: the load process must be alive
    if run.loader_pid is None:
        asked = run.load_requested_at
        if asked is not None and now - asked > settings.loader_start_s:
            return Assessment("failed", f"the load process never started ({now - asked:.0f} s "
                              "after it was asked for)")
        return Assessment("wait", "waiting for the load process to start")
    beat = run.heartbeat_at or run.created_at
    if now - beat > settings.loader_stale_s:
        return Assessment("failed", f"the load process (pid {run.loader_pid} on "
                          f"{run.loader_host}) stopped during phase {run.phase!r}: no heartbeat "
                          f"for {now - beat:.0f} s")
    what = {"registered": "starting", "waiting": "waiting for other runs to drain",
            "loading": "sending the load"}.get(run.phase, run.phase)
    return Assessment("wait", f"the load process is {what}")


@dataclass(frozen=True)
class Busy:
    """Another run with questions in the shared pipeline."""

    label: str
    phase: str
    status: str
    pending: int | None  # None: holds the pipeline (loading), count not computed

    def describe(self) -> str:
        if self.pending is None:
            return f"{self.label} ({self.phase})"
        return f"{self.label} ({self.status}, {self.pending} question(s) in flight)"


def blocking(others: Sequence[RunRow], pending: Mapping[str, int],
             last_activity: Mapping[str, float | None], now: float,
             settings: LifecycleSettings | None = None) -> list[Busy]:
    """Which of OTHERS keep this run from loading:

    - a run sending its load (phase ``loading``) whose load process is alive (a dead one, say
      ended by `harness down`, holds nothing);
    - a draining or ended run with questions still pending that moved within
      ``stale_activity_s`` (stuck questions of a run nobody waits for any more do not block every
      later run).

    PENDING and LAST_ACTIVITY are per label (computed only for runs that need them)."""
    settings = settings or LifecycleSettings()
    out: list[Busy] = []
    for run in others:
        if run.status == "running" and run.phase == "loading":
            beat = run.heartbeat_at or run.updated_at
            if now - beat <= settings.loader_stale_s:
                out.append(Busy(run.label, run.phase, run.status, None))
            continue
        draining = run.status == "running" and run.phase == "draining"
        left = pending.get(run.label, 0)
        if (draining or run.ended) and left > 0:
            moved = last_activity.get(run.label)
            if moved is not None and now - moved <= settings.stale_activity_s:
                out.append(Busy(run.label, run.phase, run.status, left))
    return out


# -- the database side ---------------------------------------------------------------------


def run_pending(db: Database, run: RunRow) -> int | None:
    """Questions of RUN not terminal yet, over the repeats whose load summary is stored (None
    when no load has finished: nothing to count)."""
    from experiments.pending import pending_for_experiment

    loads = _load_summaries(db, run.experiment_ids)
    if not loads:
        return None
    return sum(pending_for_experiment(db, eid, load).total for eid, load in loads.items())


def last_pending(db: Database, run: RunRow) -> int | None:
    """The pending count of the run's last repeat (the earlier repeats were drained by the load
    process), or None if its load is not stored yet."""
    from experiments.pending import pending_for_experiment

    last = run.experiment_ids[-1]
    load = _load_summaries(db, [last]).get(last)
    return None if load is None else pending_for_experiment(db, last, load).total


def _load_summaries(db: Database, experiment_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    conn = db.conn()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT id, summary -> 'load' FROM experiments WHERE id = ANY(%s)",
                    (list(experiment_ids),))
        return {eid: load for eid, load in cur.fetchall() if isinstance(load, dict)}


def _latest_durable(db: Database, table: str, experiment_ids: Sequence[str]) -> float | None:
    """max(durable_at) of TABLE (answers or events) over these experiments; None when empty."""
    if table not in ("answers", "events"):
        raise ValueError(f"no durable_at in {table!r}")
    conn = db.conn()
    with conn, conn.cursor() as cur:
        cur.execute(f"SELECT max(durable_at) FROM {table} WHERE experiment_id = ANY(%s)",
                    (list(experiment_ids),))
        row = cur.fetchone()
    return None if row is None or row[0] is None else float(row[0])


def last_durable(db: Database, experiment_ids: Sequence[str]) -> float | None:
    """When the last question of these experiments became durable (the drain's true end)."""
    return _latest_durable(db, "answers", experiment_ids)


def _last_activity(db: Database, experiment_ids: Sequence[str]) -> float | None:
    """When these experiments last moved: their newest telemetry event."""
    return _latest_durable(db, "events", experiment_ids)


def pipeline_busy(db: Database, label: str, now: float,
                  settings: LifecycleSettings | None = None) -> list[Busy]:
    """Other runs that keep LABEL from sending its load now (see :func:`blocking`)."""
    settings = settings or LifecycleSettings()
    store = RunStore(db)
    others = store.active(exclude=label, since=now - 24 * 3600)
    pending: dict[str, int] = {}
    activity: dict[str, float | None] = {}
    for run in others:
        if run.ended or (run.status == "running" and run.phase == "draining"):
            count = run_pending(db, run)
            if count is not None:
                pending[run.label] = count
            if count:
                activity[run.label] = _last_activity(db, run.experiment_ids)
    return blocking(others, pending, activity, now, settings)


def acquire_pipeline(db: Database, label: str,
                     settings: LifecycleSettings | None = None) -> RunRow | None:
    """Atomically move LABEL to phase ``loading`` unless another run is sending its load with a
    live load process (draining runs were checked by :func:`pipeline_busy` just before). Returns
    the holder that refused it, or None when acquired."""
    settings = settings or LifecycleSettings()
    conn = db.conn()
    from psycopg2.extras import RealDictCursor

    with conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_PIPELINE_LOCK,))
        cur.execute("""SELECT * FROM runs WHERE label <> %s AND status = 'running'
                         AND phase = 'loading'
                         AND COALESCE(heartbeat_at, updated_at)
                             > extract(epoch FROM clock_timestamp()) - %s
                       ORDER BY created_at LIMIT 1""",
                    (label, settings.loader_stale_s))
        holder = cur.fetchone()
        if holder is not None:
            return RunRow.from_row(holder)
        cur.execute("""UPDATE runs SET phase = 'loading', updated_at = extract(epoch FROM
                         clock_timestamp()) WHERE label = %s""", (label,))
    return None


def overlapping_runs(db: Database, run: RunRow, until: float) -> list[str]:
    """Labels of other runs whose questions were in the pipeline while RUN's were: their load
    window or drain (up to their last recorded activity) intersects RUN's [load start, UNTIL]."""
    start = run.load_started_at
    if start is None:
        return []
    out: list[str] = []
    for other in RunStore(db).active(exclude=run.label, since=start - 24 * 3600):
        if other.load_started_at is None or other.load_started_at >= until:
            continue
        end = other.drained_at
        if end is None:
            end = _last_activity(db, other.experiment_ids) or other.load_finished_at or until
        if end > start:
            out.append(other.label)
    return out


__all__ = [
    "Assessment",
    "Busy",
    "LifecycleSettings",
    "acquire_pipeline",
    "assess_drain",
    "blocking",
    "last_durable",
    "last_pending",
    "overlapping_runs",
    "pipeline_busy",
    "run_pending",
]
