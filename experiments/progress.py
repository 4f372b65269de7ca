"""A run's progress so far, read from PostgreSQL: what `harness trigger` and `harness run` show
while a run is going.

:func:`read_progress` reads one :class:`ProgressSnapshot` of a run (every repeat of it) in a few
index scans; :func:`describe` turns it into one line of text. The definitions are those of the
rest of the harness, so the live figures converge on the report's:

- **sent** and **in flight** are the passes of :mod:`experiments.pending` (sent = known passes +
  those Kafka acknowledged that the database does not know yet; in flight = pending), counted by
  the collector's own query (:data:`experiments.collect_sql.PASS_STATES`);
- **answered** = accepted + low_quality; **dead-lettered** ends a question too, with an error;
- **p50 / p99** are end-to-end latencies (``durable_at - intended_at``, as in docs/metrics.md)
  of the questions answered so far, warm-up included: the report's steady-state figures trim it;
- **error rate** = dead-lettered / questions ended so far; the LLM calls that failed (retried or
  not) are counted apart, from the ``llm_attempt`` events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from experiments.collect_sql import pass_states
from experiments.pending import acknowledged_questions, pending_from_states
from pipeline.messages import AttemptStatus, EventKind
from pipeline.storage.db import Database
from pipeline.storage.runs import RunStore

#: answered questions' end-to-end latency so far: count, p50, p99 (seconds)
LATENCY = """
SELECT count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY durable_at - intended_at),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY durable_at - intended_at)
FROM answers
WHERE experiment_id = ANY(%(ids)s) AND terminal_state IN ('accepted', 'low_quality')
  AND durable_at IS NOT NULL AND intended_at IS NOT NULL
"""

#: LLM calls so far (every call, replays included) and those that failed
LLM_CALLS = """
SELECT count(*), count(*) FILTER (WHERE attrs ->> 'status' = %(error)s)
FROM events WHERE experiment_id = ANY(%(ids)s) AND kind = %(attempt_kind)s
"""

#: each repeat's load summary once its load is sent (``{"load": LoadSummary}``)
LOAD_SUMMARIES = "SELECT id, summary FROM experiments WHERE id = ANY(%(ids)s)"


@dataclass(frozen=True)
class ProgressSnapshot:
    """A run's figures at one moment (see the module docstring for the definitions)."""

    label: str
    phase: str
    status: str
    reason: str | None
    sent: int
    accepted: int
    low_quality: int
    dead_lettered: int
    in_flight: int
    e2e_p50_s: float | None
    e2e_p99_s: float | None
    llm_calls: int
    llm_errors: int

    @property
    def answered(self) -> int:
        return self.accepted + self.low_quality

    @property
    def ended(self) -> int:
        """Questions in a terminal state (answered or dead-lettered)."""
        return self.answered + self.dead_lettered

    @property
    def error_rate(self) -> float | None:
        """Dead-lettered share of the questions ended so far (None before the first)."""
        return self.dead_lettered / self.ended if self.ended else None

    @property
    def llm_error_rate(self) -> float | None:
        """Failed share of the LLM calls so far (None before the first)."""
        return self.llm_errors / self.llm_calls if self.llm_calls else None


def read_progress(db: Database, label: str) -> ProgressSnapshot | None:
    """The progress of run LABEL (None while it is not registered), through DB. One attempt, no
    retry: a display that misses a refresh shows the next one."""
    run = RunStore(db, retry_s=0.0).get(label)
    if run is None:
        return None
    ids = list(run.experiment_ids)
    conn = db.conn()
    with conn, conn.cursor() as cur:
        cur.execute(LOAD_SUMMARIES, {"ids": ids})
        loads: dict[str, Any] = {str(i): s for i, s in cur.fetchall()}
        states: dict[str | None, int] = {}
        sent = in_flight = 0
        for experiment_id in ids:
            per = pass_states(cur, experiment_id)
            pending = pending_from_states(per, acknowledged_questions(_load(loads, experiment_id)))
            sent += pending.known + pending.unseen
            in_flight += pending.total
            for state, n in per.items():
                states[state] = states.get(state, 0) + n
        cur.execute(LATENCY, {"ids": ids})
        _, p50, p99 = cur.fetchone()
        cur.execute(LLM_CALLS, {"ids": ids, "error": AttemptStatus.ERROR.value,
                                "attempt_kind": EventKind.LLM_ATTEMPT.value})
        calls, errors = cur.fetchone()
    return ProgressSnapshot(
        label=label, phase=run.phase, status=run.status, reason=run.reason, sent=sent,
        accepted=states.get("accepted", 0), low_quality=states.get("low_quality", 0),
        dead_lettered=states.get("dead_lettered", 0), in_flight=in_flight,
        e2e_p50_s=None if p50 is None else float(p50),
        e2e_p99_s=None if p99 is None else float(p99),
        llm_calls=int(calls or 0), llm_errors=int(errors or 0),
    )


def _load(loads: Mapping[str, Any], experiment_id: str) -> Mapping[str, Any] | None:
    summary = loads.get(experiment_id)
    return summary if isinstance(summary, Mapping) else None


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def describe(snapshot: ProgressSnapshot, elapsed_s: float | None = None, *,
             compact: bool = False) -> str:
    """One line of text. COMPACT: short enough for a terminal line redrawn in place; otherwise
    every figure spelled out (a log line)."""
    s = snapshot
    if compact:
        parts = [s.phase, f"sent {s.sent}", f"answered {s.answered}", f"in flight {s.in_flight}",
                 f"dlq {s.dead_lettered}", f"p50 {_seconds(s.e2e_p50_s)}",
                 f"p99 {_seconds(s.e2e_p99_s)}", f"err {_percent(s.error_rate)}"]
        if elapsed_s is not None:
            parts.append(f"{elapsed_s:.0f} s")
        return " | ".join(parts)
    line = (f"{s.label} {s.phase}: sent {s.sent}, answered {s.answered} (accepted {s.accepted}, "
            f"low quality {s.low_quality}), dead-lettered {s.dead_lettered}, in flight "
            f"{s.in_flight}; e2e p50 {_seconds(s.e2e_p50_s)}, p99 {_seconds(s.e2e_p99_s)}; "
            f"errors {_percent(s.error_rate)} of questions, {_percent(s.llm_error_rate)} of "
            f"{s.llm_calls} LLM calls")
    if elapsed_s is not None:
        line += f"; {elapsed_s:.0f} s"
    return line
