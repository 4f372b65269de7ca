"""The audit's reads (:mod:`experiments.audit`): which experiments a target names, and the rows
each check needs, read in one consistent, read-only snapshot.

Every query is filtered on ``experiment_id`` first (the primary keys and the
``events_experiment_kind_idx`` index serve it). Events are aggregated in the database (sends per
question, LLM attempt events per question, round and attempt number), so the audit of a run of
~100k questions moves a few hundred thousand small rows, never the events themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from psycopg2.extensions import cursor as PgCursor
from psycopg2.extras import RealDictCursor

from pipeline.messages import EventKind, HopName
from pipeline.storage.db import Database

Row = dict[str, Any]

RUN_BY_LABEL = "SELECT label, status, phase, experiment_ids FROM runs WHERE label = %(target)s"

#: the newest run whose repeats include the experiment (``experiment_ids`` is a JSON array)
RUN_OF_EXPERIMENT = """
SELECT label, status, phase, experiment_ids FROM runs
WHERE experiment_ids ? %(target)s ORDER BY created_at DESC LIMIT 1
"""

EXPERIMENTS = """
SELECT id, status, summary FROM experiments WHERE id = ANY(%(ids)s)
"""

#: ``generator.sent`` hop events per question: one per send Kafka acknowledged
SENDS = """
SELECT question_id, count(*) AS sends FROM events
WHERE experiment_id = %(exp)s AND kind = %(hop_kind)s AND attrs ->> 'hop' = %(sent_hop)s
  AND question_id IS NOT NULL
GROUP BY question_id
"""

ANSWERS = """
SELECT question_id, terminal_state, dlq_reason FROM answers WHERE experiment_id = %(exp)s
"""

ATTEMPTS = """
SELECT question_id, round, number FROM attempts WHERE experiment_id = %(exp)s
"""

#: ``llm_attempt`` events per (question, round, attempt number): each is one LLM call (the event
#: sink stores an event id once, so a redelivered event is not counted twice)
ATTEMPT_EVENTS = """
SELECT question_id, round, attempt, count(*) AS calls,
       array_agg(DISTINCT attrs ->> 'worker') FILTER (WHERE attrs ? 'worker') AS workers
FROM events
WHERE experiment_id = %(exp)s AND kind = %(attempt_kind)s AND question_id IS NOT NULL
GROUP BY question_id, round, attempt
"""

#: where a worker read a (question, round) more than once: the qa.questions coordinates of its
#: ``worker.received`` hops (a deferral's release is read again legitimately; the audit only
#: shows these beside a duplicated pass, to tell a redelivery from a second record)
REDELIVERED = """
SELECT question_id, round,
       array_agg(concat_ws(':', attrs ->> 'partition', attrs ->> 'offset') ORDER BY ts) AS reads
FROM events
WHERE experiment_id = %(exp)s AND kind = %(hop_kind)s AND attrs ->> 'hop' = %(received_hop)s
  AND question_id IS NOT NULL
GROUP BY question_id, round HAVING count(*) > 1
"""

DEAD_LETTERS = """
SELECT question_id, code, count(*) AS letters FROM dead_letters
WHERE experiment_id = %(exp)s GROUP BY question_id, code
"""


class TargetNotFound(LookupError):
    """Neither a run label nor an experiment id."""


@dataclass(frozen=True)
class RunState:
    """The runs row of the target (the fields the audit needs)."""

    label: str
    status: str
    phase: str
    experiment_ids: list[str]


@dataclass
class ExperimentRows:
    """What the database holds about one experiment, for the audit, as plain rows."""

    experiment_id: str
    #: the experiments row's status (None: no experiments row)
    status: str | None = None
    #: the experiments row's summary: the load summary under ``load`` (as the runner stores it)
    #: or itself (see :func:`experiments.pending.acknowledged_questions`); None: none stored yet
    summary: dict[str, Any] | None = None
    #: question_id -> its ``generator.sent`` events
    sends: dict[str, int] = field(default_factory=dict)
    #: answers rows: question_id, terminal_state, dlq_reason
    answers: list[Row] = field(default_factory=list)
    #: attempts rows: question_id, round, number
    attempts: list[Row] = field(default_factory=list)
    #: llm_attempt events grouped: question_id, round, attempt, calls, workers
    attempt_events: list[Row] = field(default_factory=list)
    #: (question_id, round) -> "partition:offset" of each worker.received hop, for rounds read
    #: more than once
    redelivered: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    #: dead letters grouped: question_id, code, letters
    dead_letters: list[Row] = field(default_factory=list)


@dataclass
class AuditRows:
    """A target resolved and read: the run (if any) and the rows of each experiment audited."""

    target: str
    run: RunState | None
    #: every repeat of the run (or the one experiment) in order, with its experiments status:
    #: the audit decides from it whether a repeat's load process has moved on
    statuses: dict[str, str | None]
    experiments: list[ExperimentRows]


def _params(experiment_id: str) -> dict[str, str]:
    return {
        "exp": experiment_id,
        "hop_kind": EventKind.HOP.value,
        "sent_hop": HopName.GENERATOR_SENT.value,
        "received_hop": HopName.WORKER_RECEIVED.value,
        "attempt_kind": EventKind.LLM_ATTEMPT.value,
    }


def _rows(cur: PgCursor, sql: str, params: Mapping[str, Any]) -> list[Row]:
    cur.execute(sql, params)
    return [dict(row) for row in cur.fetchall()]


def _resolve(cur: PgCursor, target: str) -> tuple[RunState | None, list[str]]:
    """(the run, the experiment ids to audit): a run label gives all its repeats, an experiment
    id itself (and the run it belongs to, if any)."""
    for sql, whole_run in ((RUN_BY_LABEL, True), (RUN_OF_EXPERIMENT, False)):
        found = _rows(cur, sql, {"target": target})
        if found:
            row = found[0]
            run = RunState(label=row["label"], status=row["status"], phase=row["phase"],
                           experiment_ids=[str(e) for e in row["experiment_ids"]])
            return run, run.experiment_ids if whole_run else [target]
    if _rows(cur, EXPERIMENTS, {"ids": [target]}):
        return None, [target]
    raise TargetNotFound(f"{target!r} is neither a run label nor an experiment id")


def _experiment(cur: PgCursor, experiment_id: str, row: Row | None) -> ExperimentRows:
    params = _params(experiment_id)
    summary = row.get("summary") if row else None
    return ExperimentRows(
        experiment_id=experiment_id,
        status=row["status"] if row else None,
        summary=summary if isinstance(summary, dict) else None,
        sends={r["question_id"]: int(r["sends"]) for r in _rows(cur, SENDS, params)},
        answers=_rows(cur, ANSWERS, params),
        attempts=_rows(cur, ATTEMPTS, params),
        attempt_events=_rows(cur, ATTEMPT_EVENTS, params),
        redelivered={(r["question_id"], r["round"]): [str(x) for x in r["reads"]]
                     for r in _rows(cur, REDELIVERED, params)},
        dead_letters=_rows(cur, DEAD_LETTERS, params),
    )


def fetch_audit_rows(db: Database, target: str) -> AuditRows:
    """Resolve TARGET (a run label or an experiment id) and read its rows through DB, in one
    REPEATABLE READ, read-only transaction (a question is terminal or not, never both).

    ``with conn`` opens a transaction on an autocommit connection too (psycopg2 >= 2.9), so the
    snapshot holds whatever DB's mode; the transaction ends with the block."""
    conn = db.conn()
    with conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        run, audited = _resolve(cur, target)
        ids = run.experiment_ids if run is not None else audited
        rows = {r["id"]: r for r in _rows(cur, EXPERIMENTS, {"ids": ids})}
        return AuditRows(
            target=target, run=run,
            statuses={eid: (rows[eid]["status"] if eid in rows else None) for eid in ids},
            experiments=[_experiment(cur, eid, rows.get(eid)) for eid in audited],
        )


__all__ = ["AuditRows", "ExperimentRows", "RunState", "TargetNotFound", "fetch_audit_rows"]
