"""``audit``: prove that nothing of a run was lost, duplicated or invented.

A pure core (:func:`audit_experiment`, :func:`audit_rows`) over the rows that
:mod:`experiments.audit_sql` reads in one snapshot, and :func:`audit` that does both. A target is
a run label (every repeat of the run) or one experiment id.

Definitions, per experiment (a *pass* is one question the generator sent; see
:mod:`experiments.pending`, whose definition of pending this module reuses):

- **acknowledged**: the distinct questions Kafka acknowledged: the load summary's
  ``acknowledged_questions`` (``experiments.summary``, under ``load``), or, when none is stored,
  the distinct questions of the ``generator.sent`` hop events (one per question and send);
- **terminal**: answers rows whose ``terminal_state`` is accepted, low_quality or dead_lettered;
  dead letters are broken down by the code of their ``dlq_reason`` (the text before ``:``);
- **pending**: known passes (a ``generator.sent`` event or an answers row) not terminal, plus
  acknowledged questions the database does not know of (:func:`experiments.pending.pending_from_states`);
- **over**: the run has ended (finished, failed or stopped) or drained; or the experiment is
  marked finished, failed or stopped; or a later repeat of its run has started (the load process
  drains each repeat before it starts the next). A bare experiment without a runs row is over
  when its experiments row says so;
- **in flight**: pending while the experiment is not over; **lost**: pending once it is over
  (sent, acknowledged, and yet not terminal when nothing is left to wait for);
- **unknown**: questions with an answers row, attempts rows or ``llm_attempt`` events but no
  ``generator.sent`` event, beyond the sent events that are missing (events are
  fire-and-forget: ``acknowledged - questions with a sent event`` of them may have been dropped,
  and the questions they stand for look unknown). Decided once the experiment is over (a row can
  be written before its sent event reaches the event sink);
- **duplicated LLM passes**: the worker numbers attempts per round (``Attempt.number``, 1-based;
  deferrals keep the count, a new round restarts it) and emits one ``llm_attempt`` event per call
  with that round and number; the event sink keeps an event id once, so every stored event is one
  call. A question sent S times (S > 1 only with the cache off) legitimately has at most S calls
  per (round, number). Its **extra calls** are:

  * per (round, number): the calls beyond S (a redelivered record replayed after a worker crash,
    or a deferred record released twice, repeats the numbers it had reached), and
  * for a terminal question sent once whose stored attempt history is not empty: every call whose
    (round, number) that history lacks (a second copy of the record went its own way, e.g. into a
    round the stored outcome never reached); those calls are counted once, not also as repeats.

  A question with extra calls is a duplicated LLM pass. Dropped events can hide a duplicate,
  never invent one. Definitive at any time: events only accumulate;
- **dead letters without an answers row**: dead_letters rows of the experiment with no question
  id or none whose answers row exists (poison records): reported, not a verdict reason by
  themselves (a sent question among them is lost, and counted as such).

Verdict: **dirty** when (once over) anything is lost or unknown, or, with ``strict``, anything is
duplicated; else **in flight** while the experiment is not over; else **clean**. Without
``strict`` a duplicated LLM pass is a warning: at-least-once delivery replays a record after a
crash (a worker killed before it committed, a Flink job restarted from its last checkpoint), which
costs LLM calls but stores each question's outcome once (the storage write is idempotent). A run takes the worst verdict
of its repeats. Exit codes: 0 clean, 1 dirty, 3 in flight.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from experiments.audit_sql import AuditRows, ExperimentRows, RunState, fetch_audit_rows
from experiments.pending import TERMINAL, acknowledged_questions, is_terminal, pending_from_states
from pipeline.storage.db import Database

Verdict = Literal["clean", "in flight", "dirty"]
EXIT_CODES: dict[str, int] = {"clean": 0, "dirty": 1, "in flight": 3}
_SEVERITY: dict[str, int] = {"clean": 0, "in flight": 1, "dirty": 2}

#: run statuses and phases, and experiment statuses, after which nothing more is coming
RUN_ENDED = ("finished", "failed", "stopped")
RUN_DRAINED = ("drained", "reported")
EXPERIMENT_ENDED = ("finished", "failed", "stopped")

#: question ids kept per finding (the counts are always complete)
SAMPLE = 20

AUDIT_FILE = "audit.json"


@dataclass(frozen=True)
class Duplicate:
    """One question's LLM calls that its sends cannot account for."""

    question_id: str
    sends: int
    extra_calls: int
    #: "round r attempt n: c calls (workers ...)" per offending (round, number)
    details: list[str]


@dataclass
class ExperimentAudit:
    """The checks and counts of one experiment (see the module docstring)."""

    experiment_id: str
    over: bool
    acknowledged: int
    acknowledged_from: Literal["load summary", "sent events"]
    sent_events: int  # distinct questions with a generator.sent event
    terminal: dict[str, int]  # state -> answers rows
    dead_letter_reasons: dict[str, int]  # dlq_reason code -> dead-lettered answers rows
    pending: int  # known passes not terminal + acknowledged but unseen
    in_flight: int  # pending while not over
    lost: int  # pending once over
    lost_ids: list[str]
    unknown: int
    unknown_ids: list[str]
    duplicated: int  # questions with extra LLM calls
    extra_llm_calls: int
    duplicates: list[Duplicate]
    dead_letters_without_answer: dict[str, int]  # code -> dead letters
    notes: list[str] = field(default_factory=list)
    #: duplicated LLM passes make the verdict dirty (``--strict``); by default they are a
    #: warning: at-least-once delivery replays a record after a crash (a worker killed, a Flink
    #: job restarted from its checkpoint), which costs LLM calls but stores each outcome once
    strict: bool = False

    @property
    def warnings(self) -> list[str]:
        """What is worth knowing but not a loss: replayed LLM calls (unless strict)."""
        if self.duplicated and not self.strict:
            return [f"{self.duplicated} question(s) had duplicated LLM passes "
                    f"({self.extra_llm_calls} extra call(s)): records replayed by at-least-once "
                    "delivery; each outcome was stored once"]
        return []

    @property
    def reasons(self) -> list[str]:
        """Why the experiment is dirty (empty: it is not)."""
        out: list[str] = []
        if self.duplicated and self.strict:
            out.append(f"{self.duplicated} question(s) had duplicated LLM passes "
                       f"({self.extra_llm_calls} extra call(s))")
        if self.over and self.lost:
            out.append(f"{self.lost} acknowledged question(s) lost (never terminal)")
        if self.over and self.unknown:
            out.append(f"{self.unknown} question(s) in the database that were never sent")
        return out

    @property
    def verdict(self) -> Verdict:
        if self.reasons:
            return "dirty"
        return "clean" if self.over else "in flight"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict, "reasons": self.reasons,
                "warnings": self.warnings}

    def lines(self) -> list[str]:
        """A few lines of text: the verdict, the counts, then the findings with sample ids."""
        terminal = ", ".join(f"{state} {self.terminal.get(state, 0)}" for state in TERMINAL)
        if self.dead_letter_reasons:
            terminal += " (" + ", ".join(f"{code} {n}" for code, n in
                                         sorted(self.dead_letter_reasons.items())) + ")"
        out = [
            f"{self.experiment_id}: {self.verdict.upper()}",
            f"  acknowledged {self.acknowledged} (from the {self.acknowledged_from}); "
            f"terminal: {terminal}",
            f"  in flight {self.in_flight}, lost {self.lost}, unknown {self.unknown}, "
            f"duplicated LLM passes {self.duplicated} ({self.extra_llm_calls} extra call(s))",
        ]
        out += [f"  dirty: {reason}" for reason in self.reasons]
        out += [f"  warning: {warning}" for warning in self.warnings]
        if self.lost_ids:
            out.append(f"  lost: {_ids(self.lost_ids, self.lost)}")
        if self.unknown_ids:
            out.append(f"  never sent: {_ids(self.unknown_ids, self.unknown)}")
        for dup in self.duplicates:
            out.append(f"  duplicated {dup.question_id} (sent {dup.sends}x, "
                       f"{dup.extra_calls} extra): " + "; ".join(dup.details))
        if self.dead_letters_without_answer:
            out.append("  dead letters without an answers row: " + ", ".join(
                f"{code} {n}" for code, n in sorted(self.dead_letters_without_answer.items())))
        out += [f"  note: {note}" for note in self.notes]
        return out


@dataclass
class AuditResult:
    """The audit of a target: a run (every repeat) or one experiment."""

    target: str
    run_label: str | None
    run_status: str | None
    experiments: list[ExperimentAudit]

    @property
    def verdict(self) -> Verdict:
        worst: Verdict = "clean"
        for exp in self.experiments:
            if _SEVERITY[exp.verdict] > _SEVERITY[worst]:
                worst = exp.verdict
        return worst

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def reasons(self) -> list[str]:
        many = len(self.experiments) > 1
        return [f"{exp.experiment_id}: {r}" if many else r
                for exp in self.experiments for r in exp.reasons]

    @property
    def warnings(self) -> list[str]:
        many = len(self.experiments) > 1
        return [f"{exp.experiment_id}: {w}" if many else w
                for exp in self.experiments for w in exp.warnings]

    @property
    def totals(self) -> dict[str, int]:
        """The counts summed over the experiments."""
        keys = ("acknowledged", "in_flight", "lost", "unknown", "duplicated", "extra_llm_calls")
        out = {key: sum(getattr(exp, key) for exp in self.experiments) for key in keys}
        states: Counter[str] = Counter()
        for exp in self.experiments:
            states.update(exp.terminal)
        out.update({f"terminal_{state}": states.get(state, 0) for state in TERMINAL})
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the verdict, exit code, reasons, totals and every experiment's audit."""
        return {
            "target": self.target, "run_label": self.run_label, "run_status": self.run_status,
            "verdict": self.verdict, "exit_code": self.exit_code, "reasons": self.reasons,
            "warnings": self.warnings,
            "totals": self.totals,
            "experiments": [exp.to_dict() for exp in self.experiments],
        }

    def lines(self) -> list[str]:
        what = (f"run {self.run_label} ({self.run_status}, {len(self.experiments)} "
                f"experiment(s))" if self.run_label else f"experiment {self.target}")
        out = [f"audit of {what}: {self.verdict.upper()} (exit {self.exit_code})"]
        for exp in self.experiments:
            out += exp.lines()
        return out


def _ids(sample: list[str], total: int) -> str:
    more = total - len(sample)
    return ", ".join(sample) + (f" and {more} more" if more > 0 else "")


def _code(reason: object) -> str:
    return str(reason or "unknown").split(":", 1)[0].strip() or "unknown"


# -- the core ---------------------------------------------------------------------------------


def is_over(run: RunState | None, experiment_id: str,
            statuses: Mapping[str, str | None]) -> bool:
    """Whether nothing more is coming for EXPERIMENT_ID (the module docstring's "over").
    STATUSES are the experiments statuses of the run's repeats in order (or of the experiment)."""
    if run is not None and (run.status in RUN_ENDED or run.phase in RUN_DRAINED):
        return True
    if statuses.get(experiment_id) in EXPERIMENT_ENDED:
        return True
    order = list(statuses)
    if experiment_id in order:
        later = order[order.index(experiment_id) + 1:]
        return any(statuses[eid] not in (None, "created") for eid in later)
    return False


def _calls_per_attempt(attempt_events: Iterable[Mapping[str, Any]],
                       ) -> dict[tuple[str, Any, Any], tuple[int, set[str]]]:
    """(question, round, attempt) -> (calls, workers), summing rows of the same key (the query
    groups them already; one row per event works too)."""
    out: dict[tuple[str, Any, Any], tuple[int, set[str]]] = {}
    for row in attempt_events:
        key = (str(row["question_id"]), row["round"], row["attempt"])
        calls, workers = out.get(key, (0, set()))
        out[key] = (calls + int(row.get("calls", 1)),
                    workers | {str(w) for w in row.get("workers") or [] if w})
    return out


def find_duplicates(sends: Mapping[str, int], stored: Mapping[str, set[tuple[int, int]]],
                    terminal_ids: set[str], attempt_events: Iterable[Mapping[str, Any]],
                    redelivered: Mapping[tuple[str, int], list[str]] | None = None,
                    ) -> list[Duplicate]:
    """The questions with extra LLM calls (the module docstring's definition), by question id.

    SENDS: question -> generator.sent events; STORED: question -> (round, number) of its attempts
    rows; TERMINAL_IDS: questions with a terminal answers row; ATTEMPT_EVENTS: rows of
    question_id, round, attempt, calls (default 1) and optionally workers; REDELIVERED:
    (question, round) -> the qa.questions coordinates it was read from, when read more than once
    (shown in the details)."""
    redelivered = redelivered or {}
    found: dict[str, list[tuple[tuple[int, int], int, str]]] = {}
    for (qid, rnd, number), (calls, workers) in _calls_per_attempt(attempt_events).items():
        sent = max(1, sends.get(qid, 0))
        history = stored.get(qid, set())
        if sent == 1 and qid in terminal_ids and history and (rnd, number) not in history:
            extra, why = calls, "not in the stored attempts"
        else:
            extra, why = calls - sent, f"{calls} calls"
        if extra > 0:
            seen_by = f" (workers {', '.join(sorted(workers))})" if workers else ""
            reads = redelivered.get((qid, rnd))
            if reads:
                seen_by += f"; round {rnd} read from qa.questions at {', '.join(reads)}"
            order = (-1 if rnd is None else int(rnd), -1 if number is None else int(number))
            found.setdefault(qid, []).append(
                (order, extra, f"round {rnd} attempt {number}: {why}{seen_by}"))
    return [Duplicate(question_id=qid, sends=max(1, sends.get(qid, 0)),
                      extra_calls=sum(extra for _, extra, _ in items),
                      details=[detail for _, _, detail in sorted(items)])
            for qid, items in sorted(found.items())]


def audit_experiment(rows: ExperimentRows, *, over: bool) -> ExperimentAudit:
    """The checks of one experiment's rows (see the module docstring); OVER from :func:`is_over`."""
    notes: list[str] = []
    sent_ids = set(rows.sends)
    states = {str(r["question_id"]): r.get("terminal_state") for r in rows.answers}
    summary_acked = acknowledged_questions(rows.summary)
    acknowledged = len(sent_ids) if summary_acked is None else summary_acked
    if summary_acked is None:
        notes.append("no load summary stored: acknowledged counted from the generator.sent "
                     "events (a dropped event goes unnoticed)")
    elif len(sent_ids) > summary_acked:
        notes.append(f"{len(sent_ids)} questions have a generator.sent event, more than the "
                     f"{summary_acked} the load summary counts")

    # pending: the sensor's definition, over the passes the database knows
    passes = {qid: None for qid in sent_ids} | states
    pending = pending_from_states(Counter(passes.values()), summary_acked)
    non_terminal = sorted(qid for qid, state in passes.items() if not is_terminal(state))
    if over and pending.unseen:
        notes.append(f"{pending.unseen} acknowledged question(s) left no trace in the database")

    terminal = Counter(state for state in states.values() if is_terminal(state))
    reasons = Counter(_code(r.get("dlq_reason")) for r in rows.answers
                      if r.get("terminal_state") == "dead_lettered")

    # unknown: rows of questions never sent, beyond the sent events that may have been dropped
    stored: dict[str, set[tuple[int, int]]] = {}
    for r in rows.attempts:
        stored.setdefault(str(r["question_id"]), set()).add((r["round"], r["number"]))
    seen = set(states) | set(stored) | {str(r["question_id"]) for r in rows.attempt_events}
    unmatched = sorted(seen - sent_ids)
    missing_sent_events = max(0, acknowledged - len(sent_ids))
    unknown = max(0, len(unmatched) - missing_sent_events) if over else 0
    if over and unmatched and missing_sent_events:
        notes.append(f"{len(unmatched)} question(s) have no generator.sent event; "
                     f"{missing_sent_events} sent event(s) are missing, which may stand for them")

    duplicates = find_duplicates(
        rows.sends, stored, {qid for qid, state in states.items() if is_terminal(state)},
        rows.attempt_events, rows.redelivered)

    orphans: Counter[str] = Counter()
    for r in rows.dead_letters:
        if r.get("question_id") is None or str(r["question_id"]) not in states:
            orphans[str(r["code"])] += int(r.get("letters", 1))
    if rows.status is None:
        notes.append("no experiments row")

    lost = pending.total if over else 0
    return ExperimentAudit(
        experiment_id=rows.experiment_id, over=over, acknowledged=acknowledged,
        acknowledged_from="sent events" if summary_acked is None else "load summary",
        sent_events=len(sent_ids), terminal={s: terminal.get(s, 0) for s in TERMINAL},
        dead_letter_reasons=dict(sorted(reasons.items())), pending=pending.total,
        in_flight=0 if over else pending.total, lost=lost,
        lost_ids=non_terminal[:SAMPLE] if over else [],
        unknown=unknown, unknown_ids=unmatched[:SAMPLE] if unknown else [],
        duplicated=len(duplicates), extra_llm_calls=sum(d.extra_calls for d in duplicates),
        duplicates=duplicates[:SAMPLE], dead_letters_without_answer=dict(sorted(orphans.items())),
        notes=notes,
    )


def audit_rows(rows: AuditRows, strict: bool = False) -> AuditResult:
    """The audit of rows read by :func:`experiments.audit_sql.fetch_audit_rows`; STRICT makes
    duplicated LLM passes dirty."""
    experiments = [audit_experiment(exp, over=is_over(rows.run, exp.experiment_id, rows.statuses))
                   for exp in rows.experiments]
    for exp in experiments:
        exp.strict = strict
    return AuditResult(
        target=rows.target,
        run_label=rows.run.label if rows.run else None,
        run_status=rows.run.status if rows.run else None,
        experiments=experiments,
    )


# -- the entry points -------------------------------------------------------------------------


def audit(db: Database, label_or_experiment_id: str, strict: bool = False) -> AuditResult:
    """Audit a run (its label: every repeat) or one experiment (its id), read through DB.
    Raises :class:`experiments.audit_sql.TargetNotFound` for neither."""
    return audit_rows(fetch_audit_rows(db, label_or_experiment_id), strict=strict)


def write_audit(result: AuditResult, directory: Path) -> Path:
    """Write RESULT as ``audit.json`` into DIRECTORY (a run's report folder); returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / AUDIT_FILE
    path.write_text(json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n",
                    encoding="utf-8")
    return path


__all__ = ["AUDIT_FILE", "EXIT_CODES", "AuditResult", "Duplicate", "ExperimentAudit", "audit",
           "audit_experiment", "audit_rows", "find_duplicates", "is_over", "write_audit"]
