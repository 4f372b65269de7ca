"""Every query the collector runs, in one place, and the fetch that runs them in one snapshot.

The tables are those of pipeline/storage/migrations (answers, attempts, events, dead_letters,
experiments). Each query is filtered on ``experiment_id`` first, which the primary keys and the
``events_experiment_kind_idx`` index serve, so a run of ~100k questions (and ~1M events) is read
in a few index scans and one hash join, without per-question round trips.

All reads happen in one REPEATABLE READ, read-only transaction: a collection made while the
pipeline is still writing sees one consistent state (a question is either terminal in answers or
in flight, never both or neither).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2.extensions import ISOLATION_LEVEL_REPEATABLE_READ
from psycopg2.extensions import cursor as PgCursor

from pipeline.messages import EventKind, HopName

log = logging.getLogger(__name__)

#: event kind the generator emits for an ask coalesced onto a pass in flight
#: (pipeline.generator.load.CACHE_COALESCED; spelled out so the collector needs no Kafka client).
CACHE_COALESCED = "cache_coalesced"
#: event kind of an injected infrastructure fault (stage ``faults``, see experiments/faults.py)
FAULT = "fault"

Row = dict[str, Any]

EXPERIMENT = """
SELECT id, name, spec, status, git_revision, created_at, started_at, finished_at, summary
FROM experiments WHERE id = %(exp)s
"""

#: One row per LLM pass: every answers row of the experiment (terminal, or a placeholder still
#: in flight) joined with the generator's ``generator.sent`` hop event (the Kafka ack time and the
#: intended send time), and the sent questions that have no answers row yet (in flight).
QUESTIONS = """
WITH sent AS (
    SELECT DISTINCT ON (question_id)
           question_id,
           ts AS sent_ack_at,
           (attrs ->> 'intended_at')::double precision AS sent_intended_at
    FROM events
    WHERE experiment_id = %(exp)s AND kind = %(hop_kind)s AND attrs ->> 'hop' = %(sent_hop)s
      AND question_id IS NOT NULL
    ORDER BY question_id, ts
), a AS (
    SELECT question_id, terminal_state, dlq_reason, rounds, llm_calls, failed_attempts,
           score, score_round0, access_count, intended_at, sent_at, first_attempt_at,
           completed_at, durable_at, hops, max_rounds, score_threshold
    FROM answers WHERE experiment_id = %(exp)s
)
SELECT COALESCE(a.question_id, sent.question_id) AS question_id,
       a.question_id IS NOT NULL AS has_row,
       a.terminal_state, a.dlq_reason, a.rounds, a.llm_calls, a.failed_attempts, a.score,
       a.score_round0, a.access_count, a.intended_at, a.sent_at, a.first_attempt_at,
       a.completed_at, a.durable_at, a.hops, a.max_rounds, a.score_threshold,
       sent.sent_ack_at, sent.sent_intended_at
FROM a FULL OUTER JOIN sent ON sent.question_id = a.question_id
"""  # unordered: the collector sorts every outcome (cache hits included) by intended time

#: The passes of :data:`QUESTIONS` counted per stored ``terminal_state`` (NULL: no answers row or
#: a placeholder): what the DAG's sensor polls. The same query, so the sensor and the collector
#: count the same passes; :func:`experiments.pending.pending_from_states` decides what is pending.
PASS_STATES = f"""
SELECT q.terminal_state, count(*) FROM ({QUESTIONS}) AS q GROUP BY q.terminal_state
"""

#: The stored attempt history of every terminal pass (the winning record's, see the writer),
#: in primary-key order (an index scan, no sort), which the tier mapping relies on.
ATTEMPTS = """
SELECT question_id, round, number, status, error_class, started_at, ended_at,
       delay_before_s, tier_wait_s, deferred, tier
FROM attempts WHERE experiment_id = %(exp)s
ORDER BY question_id, round, number
"""

#: LLM attempts of passes still in flight, which only the events know.
IN_FLIGHT_ATTEMPT_EVENTS = """
SELECT e.question_id, e.round, e.attempt, e.ts, e.attrs
FROM events e
WHERE e.experiment_id = %(exp)s AND e.kind = %(attempt_kind)s AND e.question_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM answers a
                  WHERE a.experiment_id = e.experiment_id AND a.question_id = e.question_id
                    AND a.terminal_state IS NOT NULL)
ORDER BY e.question_id, e.round, e.attempt, e.ts
"""

#: The worker of every LLM attempt of the experiment, from its ``llm_attempt`` event (the attempts
#: table does not keep it); redeliveries repeat (question, round, attempt).
ATTEMPT_WORKERS = """
SELECT question_id, round, attempt, ts, attrs ->> 'worker' AS worker
FROM events
WHERE experiment_id = %(exp)s AND kind = %(attempt_kind)s AND question_id IS NOT NULL
  AND attrs ->> 'worker' IS NOT NULL
"""

CACHE_HITS = """
SELECT question_id, ts, attrs FROM events
WHERE experiment_id = %(exp)s AND kind = %(hit_kind)s
ORDER BY ts
"""

WINDOWS = """
SELECT event_id, ts, attrs FROM events
WHERE experiment_id = %(exp)s AND kind = %(window_kind)s
ORDER BY (attrs ->> 'window_start')::double precision, ts
"""

#: Infrastructure faults injected during the run (written by :mod:`experiments.faults`), in
#: the order they started.
FAULTS = """
SELECT event_id, ts, attrs FROM events
WHERE experiment_id = %(exp)s AND kind = %(fault_kind)s
ORDER BY ts, event_id
"""

EVENT_COUNTS = """
SELECT kind, count(*) FROM events WHERE experiment_id = %(exp)s GROUP BY kind
"""

#: Dead letters of the experiment that no answers row stands for (poison records whose question
#: could not be recovered): not questions, but reported.
ORPHAN_DEAD_LETTERS = """
SELECT d.code, count(*) FROM dead_letters d
WHERE d.experiment_id = %(exp)s
  AND (d.question_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM answers a
        WHERE a.experiment_id = d.experiment_id AND a.question_id = d.question_id))
GROUP BY d.code
"""

SERVER_VERSION = "SHOW server_version"


def _params(experiment_id: str) -> dict[str, str]:
    return {
        "exp": experiment_id,
        "hop_kind": EventKind.HOP.value,
        "sent_hop": HopName.GENERATOR_SENT.value,
        "attempt_kind": EventKind.LLM_ATTEMPT.value,
        "hit_kind": EventKind.CACHE_HIT.value,
        "window_kind": EventKind.FLINK_WINDOW.value,
        "fault_kind": FAULT,
    }


def pass_states(cur: PgCursor, experiment_id: str) -> dict[str | None, int]:
    """Passes of ``experiment_id`` per stored ``terminal_state`` (:data:`PASS_STATES`)."""
    cur.execute(PASS_STATES, _params(experiment_id))
    return {state: int(n) for state, n in cur.fetchall()}


@dataclass
class RawRun:
    """What the database holds about one experiment, as plain rows (column name -> value)."""

    experiment: Row | None
    questions: list[Row] = field(default_factory=list)
    attempts: list[Row] = field(default_factory=list)
    in_flight_attempt_events: list[Row] = field(default_factory=list)
    attempt_workers: list[Row] = field(default_factory=list)
    cache_hits: list[Row] = field(default_factory=list)
    windows: list[Row] = field(default_factory=list)
    faults: list[Row] = field(default_factory=list)
    event_counts: dict[str, int] = field(default_factory=dict)
    orphan_dead_letters: dict[str, int] = field(default_factory=dict)
    server_version: str | None = None


def _rows(cur: PgCursor, sql: str, params: Mapping[str, Any]) -> list[Row]:
    cur.execute(sql, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, values, strict=True)) for values in cur.fetchall()]


def _counts(cur: PgCursor, sql: str, params: Mapping[str, Any]) -> dict[str, int]:
    cur.execute(sql, params)
    return {str(key): int(n) for key, n in cur.fetchall()}


def fetch_run(dsn: str, experiment_id: str, *, connect_timeout_s: int = 10,
              application_name: str = "collector", retry_s: float = 30.0,
              connect: Any = psycopg2.connect, fault_events_file: Path | None = None) -> RawRun:
    """Read everything about ``experiment_id`` in one consistent, read-only snapshot.

    A lost connection (connection refused, server closed the connection: a PostgreSQL restart)
    is retried on a fresh connection, the whole snapshot again, for up to ``retry_s`` seconds;
    then :class:`~pipeline.storage.db.DatabaseUnavailable` names the database (never the
    password). ``connect`` is ``psycopg2.connect`` (the tests' seam).

    The fault events are the table's merged, by event id, with those the load process could not
    write to PostgreSQL and kept in ``fault_events_file`` (default: the experiment's file in the
    stack's state folder, :func:`experiments.fault_events.spill_file`).
    """
    from experiments.fault_events import merge_fault_rows, read_spilled, spill_file
    from pipeline.storage.db import Database
    from pipeline.storage.settings import DatabaseSettings

    params = _params(experiment_id)

    def snapshot(conn: Any) -> RawRun:
        conn.set_session(isolation_level=ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
        with conn, conn.cursor() as cur:
            experiments = _rows(cur, EXPERIMENT, params)
            raw = RawRun(experiment=experiments[0] if experiments else None)
            raw.questions = _rows(cur, QUESTIONS, params)
            raw.attempts = _rows(cur, ATTEMPTS, params)
            raw.in_flight_attempt_events = _rows(cur, IN_FLIGHT_ATTEMPT_EVENTS, params)
            raw.attempt_workers = _rows(cur, ATTEMPT_WORKERS, params)
            raw.cache_hits = _rows(cur, CACHE_HITS, params)
            raw.windows = _rows(cur, WINDOWS, params)
            raw.faults = _rows(cur, FAULTS, params)
            raw.event_counts = _counts(cur, EVENT_COUNTS, params)
            raw.orphan_dead_letters = _counts(cur, ORPHAN_DEAD_LETTERS, params)
            cur.execute(SERVER_VERSION)
            raw.server_version = str(cur.fetchone()[0])
        return raw

    database = Database(DatabaseSettings(dsn=dsn, connect_timeout_s=connect_timeout_s),
                        application_name=application_name, connect=connect)
    try:
        raw = database.run(snapshot, retry_s, what=f"collection of {experiment_id}")
    finally:
        database.close()
    spill = fault_events_file if fault_events_file is not None else spill_file(experiment_id)
    spilled = read_spilled(spill, experiment_id)
    if spilled:
        raw.faults = merge_fault_rows(raw.faults, spilled)
        log.info("%s: %d fault event(s) read from %s (not written to PostgreSQL during the run)",
                 experiment_id, len(spilled), spill)
    return raw
