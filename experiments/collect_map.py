"""Stored rows -> the metrics layer's model (pure functions, unit-tested without a database).

Where each :class:`~experiments.metrics.model.QuestionOutcome` field comes from:

==================  =========================================================================
question_id         answers.question_id (one LLM pass per question and experiment); a cache
                    hit reuses the id of the question it was served from
intended_at         answers.intended_at, else the ``generator.sent`` event's ``intended_at``
sent_at             the ``generator.sent`` hop *event* (emitted on the Kafka ack), else
                    answers.sent_at (the envelope's hop, stamped just before the produce)
first_attempt_at    answers.first_attempt_at (in flight: the first ``llm_attempt`` event)
durable_at          answers.durable_at (the storage commit); a cache hit: when it was served
state               answers.terminal_state; not terminal -> ``in_flight`` (the definition is
                    :mod:`experiments.pending`'s, shared with the DAG's sensor)
rounds, llm_calls,  answers.rounds / llm_calls / failed_attempts (in flight: from the
failed_attempts     ``llm_attempt`` events so far)
score_round0/final  answers.score_round0 / answers.score (final only when answered)
access_count        answers.access_count (first ask + cache hits + coalesced asks)
hops                answers.hops mapped to the metrics' names (see :func:`metric_hops`)
==================  =========================================================================
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from experiments.metrics.model import (
    AttemptStatus,
    FaultEvent,
    LlmAttempt,
    PacingLag,
    QuestionOutcome,
    TerminalState,
    WindowEvent,
)
from experiments.pending import is_terminal
from pipeline.messages import HopName

log = logging.getLogger(__name__)

ANSWERED = ("accepted", "low_quality")

Row = Mapping[str, Any]


_SENT = HopName.GENERATOR_SENT.value
_ANSWERED = HopName.WORKER_ANSWERED.value
_SCORED = HopName.FLINK_SCORED.value
_isfinite = math.isfinite


def _float(value: Any) -> float | None:
    """A finite float, or None (NULL, missing, NaN, not a number)."""
    if type(value) is float:  # the common case (double precision columns), checked first
        return value if _isfinite(value) else None
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _int(value: Any, default: int = 0) -> int:
    return default if value is None else int(value)


def _per_round(values: Any) -> list[float | None]:
    if not isinstance(values, list):
        values = [values]
    return [_float(v) for v in values]


def metric_hops(stored: Mapping[str, Any] | None, *, sent_at: float | None,
                rounds: int) -> dict[str, list[float | None]]:
    """The pipeline's hop map (``{"worker.answered": [t0, t1], ...}``) -> the metrics' hop names.

    - ``sent``: round 0 is ``sent_at`` (the generator's Kafka ack), else the stored
      ``generator.sent``; round r > 0 is when Flink scored round r-1 and sent the record back to
      qa.questions (``flink.scored`` of round r-1);
    - ``answered``: ``worker.answered``; ``scored``: ``flink.scored``;
    - ``result`` is left out: no stage records the produce to qa.results apart from
      ``flink.scored`` (the same instant), so the waterfall's storage part starts at ``scored``.

    Each list has one slot per round, None where a round has no such hop; hops absent from every
    round are omitted.
    """
    stored = stored or {}
    answered = _per_round(stored.get(_ANSWERED, []))
    scored = _per_round(stored.get(_SCORED, []))
    generator_sent = _per_round(stored.get(_SENT, []))
    n = max(rounds + 1, len(answered), len(scored), 1)
    sent: list[float | None] = [None] * n
    sent[0] = sent_at if sent_at is not None else (generator_sent[0] if generator_sent else None)
    for r in range(1, n):
        sent[r] = scored[r - 1] if r - 1 < len(scored) else None
    out: dict[str, list[float | None]] = {}
    for name, values in (("sent", sent), ("answered", answered), ("scored", scored)):
        if any(v is not None for v in values):
            out[name] = values
    return out


def question_from_row(
    row: Row, in_flight_attempts: Sequence[LlmAttempt] = ()
) -> QuestionOutcome | None:
    """One LLM pass from a row of :data:`~experiments.collect_sql.QUESTIONS`; None when its
    intended send time is unknown (a pass the generator's telemetry never reported)."""
    intended = _float(row.get("intended_at"))
    if intended is None:
        intended = _float(row.get("sent_intended_at"))
    if intended is None:
        return None
    stored = row.get("terminal_state")
    if stored and not is_terminal(stored):
        log.warning("question %s has an unknown terminal state %r; counted in flight",
                    row.get("question_id"), stored)
    if not is_terminal(stored):
        stored = "in_flight"
    state = cast(TerminalState, stored)
    sent_at = _float(row.get("sent_ack_at"))
    if sent_at is None:
        sent_at = _float(row.get("sent_at"))
    rounds = _int(row.get("rounds"))
    llm_calls = _int(row.get("llm_calls"))
    failed = _int(row.get("failed_attempts"))
    first_attempt = _float(row.get("first_attempt_at"))
    if state == "in_flight" and in_flight_attempts:
        rounds = max(rounds, max(a.round for a in in_flight_attempts))
        llm_calls = max(llm_calls, len(in_flight_attempts))
        failed = max(failed, sum(a.status == "error" for a in in_flight_attempts))
        first = min(a.started_at for a in in_flight_attempts)
        first_attempt = first if first_attempt is None else min(first_attempt, first)
    answered = state in ANSWERED
    return QuestionOutcome(
        question_id=str(row["question_id"]),
        intended_at=intended,
        sent_at=sent_at,
        first_attempt_at=first_attempt,
        durable_at=_float(row.get("durable_at")) if state != "in_flight" else None,
        state=state,
        dlq_reason=row.get("dlq_reason") if state == "dead_lettered" else None,
        rounds=rounds,
        llm_calls=llm_calls,
        failed_attempts=failed,
        score_round0=_float(row.get("score_round0")),
        score_final=_float(row.get("score")) if answered else None,
        access_count=max(1, _int(row.get("access_count"), 1)),
        hops=metric_hops(row.get("hops"), sent_at=sent_at, rounds=rounds),
    )


def attempt_from_row(row: Row, *, came_from_tier: str | None = None) -> LlmAttempt:
    """An ``attempts`` row (storage's split of each wait into backoff and tier time).

    Storage puts ``tier`` on the attempt that was *deferred*; the metrics want it on the attempt
    that *came back* from the tier (beside its ``tier_wait_s``): ``came_from_tier`` is the
    previous attempt's tier (see :func:`attempts_from_rows`).
    """
    return LlmAttempt(
        question_id=str(row["question_id"]),
        round=int(row["round"]),
        attempt=int(row["number"]),
        started_at=float(row["started_at"]),
        ended_at=float(row["ended_at"]),
        status=row["status"],
        error_class=row.get("error_class"),
        delay_before_s=_float(row.get("delay_before_s")) or 0.0,
        tier_wait_s=_float(row.get("tier_wait_s")) or 0.0,
        tier=came_from_tier,
    )


def attempts_from_rows(rows: Iterable[Row]) -> list[LlmAttempt]:
    """``attempts`` rows ordered by (question, round, number) -> LlmAttempts, each carrying the
    tier the previous attempt of its round was deferred to."""
    out: list[LlmAttempt] = []
    prev: Row | None = None
    for row in rows:
        same_round = (prev is not None and prev["question_id"] == row["question_id"]
                      and prev["round"] == row["round"])
        deferred = same_round and prev is not None and bool(prev.get("deferred"))
        tier = prev.get("tier") if deferred and prev is not None else None
        out.append(attempt_from_row(row, came_from_tier=tier))
        prev = row
    return out


def attempts_from_events(rows: Iterable[Row]) -> dict[str, list[LlmAttempt]]:
    """``llm_attempt`` events of passes still in flight -> attempts per question.

    Redeliveries (a worker crashed after the call and the record was processed again) repeat
    ``(round, attempt)``; the first event of each is kept. The wait before an attempt is taken
    from the previous attempt's route: ``backoff`` -> ``delay_before_s`` = its ``delay_s``;
    ``defer`` -> ``tier_wait_s`` = previous end -> this start (the deferral follows the failed
    call at once), with the tier the worker chose.
    """
    seen: dict[str, dict[tuple[int, int], Row]] = defaultdict(dict)
    for row in rows:
        qid = row.get("question_id")
        if qid is None or row.get("round") is None or row.get("attempt") is None:
            continue
        key = (int(row["round"]), int(row["attempt"]))
        kept = seen[str(qid)].get(key)
        if kept is None or float(row["ts"]) < float(kept["ts"]):
            seen[str(qid)][key] = row
    out: dict[str, list[LlmAttempt]] = {}
    for qid, by_key in seen.items():
        attempts: list[LlmAttempt] = []
        prev: Row | None = None
        for (rnd, number), row in sorted(by_key.items()):
            attrs = row.get("attrs") or {}
            ended = float(row["ts"])
            started = _float(attrs.get("started_at"))
            if started is None:
                started = ended - (_float(attrs.get("latency_s")) or 0.0)
            delay_before = tier_wait = 0.0
            tier = None
            if prev is not None and int(prev["round"]) == rnd:
                pattrs = prev.get("attrs") or {}
                if pattrs.get("action") == "defer":
                    tier_wait = max(0.0, started - float(prev["ts"]))
                    tier = pattrs.get("tier")
                elif pattrs.get("action") == "backoff":
                    delay_before = _float(pattrs.get("delay_s")) or 0.0
            status: AttemptStatus = "ok" if attrs.get("status") == "ok" else "error"
            worker = attrs.get("worker")
            attempts.append(LlmAttempt(
                question_id=qid, round=rnd, attempt=number, started_at=min(started, ended),
                ended_at=ended, status=status,
                error_class=None if status == "ok" else (attrs.get("error_class") or None),
                delay_before_s=delay_before, tier_wait_s=tier_wait, tier=tier,
                worker=str(worker) if worker else None,
            ))
            prev = row
        out[qid] = attempts
    return out


def attempt_workers(rows: Iterable[Row]) -> dict[tuple[str, int, int], str]:
    """Rows of :data:`~experiments.collect_sql.ATTEMPT_WORKERS` -> the worker of each
    (question, round, attempt). A redelivered record repeats an attempt; as in
    :func:`attempts_from_events`, the first event (by time) names its worker."""
    first: dict[tuple[str, int, int], tuple[float, str]] = {}
    for row in rows:
        qid, rnd, number, worker = (row.get("question_id"), row.get("round"), row.get("attempt"),
                                    row.get("worker"))
        if qid is None or rnd is None or number is None or not worker:
            continue
        key = (str(qid), int(rnd), int(number))
        ts = _float(row.get("ts"))
        at = math.inf if ts is None else ts
        kept = first.get(key)
        if kept is None or at < kept[0]:
            first[key] = (at, str(worker))
    return {key: worker for key, (_, worker) in first.items()}


def with_workers(attempts: Iterable[LlmAttempt],
                 workers: Mapping[tuple[str, int, int], str]) -> int:
    """Set the ``worker`` of each attempt that has none from ``workers`` (see
    :func:`attempt_workers`), in place; returns how many attempts are left without one."""
    unknown = 0
    for a in attempts:
        if a.worker is None:
            a.worker = workers.get((a.question_id, a.round, a.attempt))
        unknown += a.worker is None
    return unknown


def cache_hit_from_event(row: Row) -> QuestionOutcome:
    """A ``cache_hit`` event: a generator request served from storage, no LLM call.

    Its id is the question it was served from (ids repeat, as the model allows for cache hits);
    it is "durable" when it was served (the event time), so its end-to-end time is the lookup.
    """
    attrs = row.get("attrs") or {}
    served = float(row["ts"])
    intended = _float(attrs.get("intended_at"))
    reported = attrs.get("terminal_state")
    if reported not in ANSWERED:
        log.warning("cache hit on %s reports state %r; counted accepted", row.get("question_id"),
                    reported)
        reported = "accepted"
    state = cast(TerminalState, reported)
    score = _float(attrs.get("score"))
    return QuestionOutcome(
        question_id=str(row.get("question_id") or ""),
        intended_at=served if intended is None else intended,
        durable_at=served,
        state=state,
        rounds=0,
        llm_calls=0,
        score_final=score,
        cache_hit=True,
        access_count=max(1, _int(attrs.get("access_count"), 1)),
    )


def window_from_event(row: Row) -> WindowEvent | None:
    """A ``flink_window`` event's attrs (see flink/windows.py); None without a window start."""
    attrs = row.get("attrs") or {}
    start = _float(attrs.get("window_start"))
    if start is None:
        return None
    return WindowEvent(
        window_start=start,
        window_end=_float(attrs.get("window_end")),
        scored=_int(attrs.get("scored")),
        accepted=_int(attrs.get("accepted")),
        sent_back=_int(attrs.get("sent_back")),
        low_quality=_int(attrs.get("low_quality")),
        mean_score=_float(attrs.get("mean_score")),
    )


def fault_from_event(row: Row) -> FaultEvent | None:
    """A ``fault`` event (attrs of :meth:`experiments.faults.Injected.attrs`); None when it names
    no action or target. ``started_at`` falls back to the event time."""
    attrs = row.get("attrs") or {}
    action, target = attrs.get("action"), attrs.get("target")
    if not action or not target:
        log.warning("fault event %s without an action or a target: %r", row.get("event_id"),
                    attrs)
        return None
    started = _float(attrs.get("started_at"))
    if started is None:
        started = float(row["ts"])
    status = attrs.get("status")
    worker = attrs.get("worker")
    return FaultEvent(
        at_s=_float(attrs.get("at_s")) or 0.0,
        action=str(action),
        target=str(target),
        duration_s=_float(attrs.get("duration_s")) or 0.0,
        status=int(status) if isinstance(status, int | float) and action == "outage" else None,
        worker=int(worker) if isinstance(worker, int | float) else None,
        started_at=started,
        ended_at=_float(attrs.get("ended_at")),
        detail=str(attrs.get("detail") or ""),
        error=str(attrs["error"]) if attrs.get("error") else None,
    )


def faults_from_events(rows: Iterable[Row]) -> list[FaultEvent]:
    """Every ``fault`` event of a run, once each, by start time. The recorder retries its insert
    when PostgreSQL is the target, each try under a new event id, so one fault can be stored
    twice: the same (action, target, scheduled time, start) is kept once."""
    seen: dict[tuple[str, str, float, float], FaultEvent] = {}
    for row in rows:
        fault = fault_from_event(row)
        if fault is None:
            continue
        seen.setdefault((fault.action, fault.target, fault.at_s, fault.started_at), fault)
    return sorted(seen.values(), key=lambda f: (f.started_at, f.at_s))


def load_window(summary: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """(started_at, ended_at) of the arrival schedule from a stored load summary.

    Accepts the generator's ``LoadSummary.to_dict()`` itself or a summary that nests it under
    ``load``; None when neither holds both times (or they are zero, i.e. no arrival happened).
    """
    if not summary:
        return None
    for candidate in (summary, summary.get("load")):
        if isinstance(candidate, Mapping):
            start = _float(candidate.get("started_at"))
            end = _float(candidate.get("ended_at"))
            if start and end and end >= start:
                return start, end
    return None


def pacing_lag(summary: Mapping[str, Any] | None) -> PacingLag | None:
    """The generator's pacing lag (``LoadSummary.lag``, from ``Pacer.lag_stats()``: ``p50_lag_s``,
    ``p99_lag_s``, ``max_lag_s``, ``late_sends``) from a stored load summary (itself, or nested
    under ``load``); None when it holds none (an older summary, a load that crashed before its
    end) or its p99 or max is not a number."""
    if not summary:
        return None
    for candidate in (summary, summary.get("load")):
        lag = candidate.get("lag") if isinstance(candidate, Mapping) else None
        if not isinstance(lag, Mapping):
            continue
        p99, worst = _float(lag.get("p99_lag_s")), _float(lag.get("max_lag_s"))
        if p99 is None or worst is None:
            continue
        return PacingLag(p50_s=_float(lag.get("p50_lag_s")) or 0.0, p99_s=p99, max_s=worst,
                         late_sends=_int(_float(lag.get("late_sends"))))
    return None


def intended_range(questions: Sequence[QuestionOutcome]) -> tuple[float, float] | None:
    """The first and last intended send time (the fallback load window)."""
    times = [q.intended_at for q in questions]
    return (min(times), max(times)) if times else None


def spec_float(spec: Mapping[str, Any], *path: str) -> float | None:
    node: Any = spec
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return _float(node)


def slo_of(spec: Mapping[str, Any]) -> float | None:
    """The spec's ``slo_s``; 0 (the schema's "none") and absence give None."""
    slo = spec_float(spec, "slo_s")
    return slo if slo and slo > 0 else None


def stop_reason(summary: Mapping[str, Any] | None) -> str | None:
    """Why the generator stopped before the end of its schedule (``LoadSummary.stop_reason``),
    from a stored load summary (itself, or nested under ``load``); None if it did not."""
    if not summary:
        return None
    for candidate in (summary, summary.get("load")):
        if isinstance(candidate, Mapping) and candidate.get("stopped_early"):
            return str(candidate.get("stop_reason") or "stopped before the end of the schedule")
    return None
