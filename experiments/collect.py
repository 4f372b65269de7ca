"""The collector: one experiment's stored telemetry (PostgreSQL) -> the metrics layer's
:class:`~experiments.metrics.model.RunData`.

::

    run = collect(dsn, "exp-42", spec=spec, sim_counters=counter_delta(before, after))
    build_report(run, "reports/exp-42")

What becomes what (details in :mod:`experiments.collect_map`; the SQL is all in
:mod:`experiments.collect_sql`):

- ``questions``: one row per LLM pass (answers, one per question and experiment: repeated asks
  are served from the cache or coalesced onto the pass, see pipeline/storage/cache.py); passes
  the generator sent that have no terminal row yet are ``in_flight`` (:mod:`experiments.pending`:
  the DAG's sensor waits on the same definition); every ``cache_hit`` event
  adds a row with ``cache_hit=True`` and the id of the question it was served from. Asks
  coalesced onto a pass in flight (``cache_coalesced`` events) are no separate row: they are in
  the pass's ``access_count`` and counted in :class:`CollectStats`.
- ``attempts``: the attempts table (the stored outcome's history); for passes in flight, the
  ``llm_attempt`` events so far. Each attempt's ``worker`` comes from its ``llm_attempt`` event
  (the attempts table does not keep it).
- ``windows``: ``flink_window`` events. ``faults``: ``fault`` events (the infrastructure faults
  :mod:`experiments.faults` injected), with those the load process could not write to PostgreSQL
  (:mod:`experiments.fault_events`' file), once each, by start. ``sim_counters``: given (a delta, see
  :func:`counter_delta`), else ``experiments.summary["sim_counters"]``, else none.
- ``meta``: arguments first, then the experiments row (name, spec, git revision, load summary:
  the load window, why it stopped early, the generator's pacing lag),
  then the spec (seed, warmup_s, slo_s, scoring.threshold / max_rounds), then what the data
  shows (the range of intended send times when no load summary was stored).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from experiments.collect_map import (
    attempt_workers,
    attempts_from_events,
    attempts_from_rows,
    cache_hit_from_event,
    faults_from_events,
    intended_range,
    load_window,
    pacing_lag,
    question_from_row,
    slo_of,
    spec_float,
    stop_reason,
    window_from_event,
    with_workers,
)
from experiments.collect_meta import StatePaths
from experiments.collect_meta import component_versions as discover_versions
from experiments.collect_meta import git_revision as head_revision
from experiments.collect_sim import counter_delta, snapshot_sim_counters
from experiments.collect_sql import CACHE_COALESCED, RawRun, fetch_run
from experiments.metrics.model import (
    LlmAttempt,
    QuestionOutcome,
    RunData,
    RunMeta,
    RunOutcome,
    WindowEvent,
)
from experiments.pending import (
    acknowledged_questions,
    is_terminal,
    pending_from_states,
    states_of,
)
from pipeline.messages import EventKind

log = logging.getLogger(__name__)

__all__ = [
    "CollectStats",
    "Collected",
    "ExperimentNotFound",
    "MetaOverrides",
    "build_run",
    "collect",
    "collect_run",
    "counter_delta",
    "snapshot_sim_counters",
]


class ExperimentNotFound(LookupError):
    """The database knows nothing about the experiment (no experiments row, no telemetry)."""


@dataclass(frozen=True)
class MetaOverrides:
    """Values that win over what the database and the spec say (None = not overridden)."""

    run_name: str | None = None
    seed: int | None = None
    git_revision: str | None = None
    component_versions: Mapping[str, str] | None = None
    warmup_s: float | None = None
    slo_s: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    score_threshold: float | None = None
    max_rounds: int | None = None


@dataclass
class CollectStats:
    """What the collection found beyond the RunData: for logs and the runner's sanity checks."""

    experiment_row: bool = False
    llm_passes: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    #: passes not terminal at collection (:mod:`experiments.pending`, the sensor's definition);
    #: unlike ``by_state``, passes left out for lack of an intended send time are included
    in_flight: int = 0
    #: passes the generator sent (per the stored load summary) that the database does not know
    unseen: int = 0
    cache_hits: int = 0
    coalesced: int = 0
    #: passes without a known intended send time (their generator event never arrived): left out
    skipped_without_intended: int = 0
    attempts: int = 0
    in_flight_attempts: int = 0
    #: attempts no ``llm_attempt`` event names the worker of (lost events, older telemetry)
    attempts_without_worker: int = 0
    #: every llm_attempt event, redeliveries and calls of in-flight passes included
    llm_attempt_events: int = 0
    windows: int = 0
    faults: int = 0
    orphan_dead_letters: dict[str, int] = field(default_factory=dict)
    load_window_source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Collected:
    run: RunData
    stats: CollectStats


def _most_common(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return Counter(present).most_common(1)[0][0] if present else None


def _sim_counters(given: Mapping[str, float] | None,
                  summary: Mapping[str, Any] | None) -> dict[str, float]:
    if given is not None:
        return {str(k): float(v) for k, v in given.items()}
    stored = (summary or {}).get("sim_counters")
    if isinstance(stored, Mapping):
        return {str(k): float(v) for k, v in stored.items() if isinstance(v, int | float)}
    return {}


def _questions(raw: RawRun, stats: CollectStats) -> tuple[list[QuestionOutcome], list[LlmAttempt]]:
    flight_attempts = attempts_from_events(raw.in_flight_attempt_events)
    questions: list[QuestionOutcome] = []
    attempts = attempts_from_rows(raw.attempts)
    for row in raw.questions:
        pending: list[LlmAttempt] = []
        if not is_terminal(row.get("terminal_state")):
            pending = flight_attempts.get(str(row["question_id"]), [])
        q = question_from_row(row, pending)
        if q is None:
            stats.skipped_without_intended += 1
            continue
        questions.append(q)
        if q.state == "in_flight":
            attempts.extend(pending)
            stats.in_flight_attempts += len(pending)
    stats.llm_passes = len(questions)
    stats.attempts = len(attempts)
    stats.attempts_without_worker = with_workers(attempts, attempt_workers(raw.attempt_workers))
    hits = [cache_hit_from_event(r) for r in raw.cache_hits if r.get("question_id")]
    stats.cache_hits = len(hits)
    everything = questions + hits
    everything.sort(key=lambda q: (q.intended_at, q.cache_hit, q.question_id))
    stats.by_state = dict(sorted(Counter(q.state for q in questions).items()))
    if stats.skipped_without_intended:
        log.warning("%d pass(es) left out: no intended send time (generator telemetry missing)",
                    stats.skipped_without_intended)
    return everything, attempts


def _windows(raw: RawRun) -> list[WindowEvent]:
    return [w for w in (window_from_event(r) for r in raw.windows) if w is not None]


def build_run(
    raw: RawRun,
    experiment_id: str,
    *,
    spec: Mapping[str, Any] | None = None,
    overrides: MetaOverrides | None = None,
    sim_counters: Mapping[str, float] | None = None,
    versions: Mapping[str, str] | None = None,
    git: Callable[[], str | None] = head_revision,
    collected_at: float,
    outcome: RunOutcome | None = None,
) -> Collected:
    """RawRun -> RunData, without database access (``versions`` and ``git`` supply what the
    database does not hold; ``outcome``, how the run ended, defaults to finished)."""
    overrides = overrides or MetaOverrides()
    outcome = outcome or RunOutcome()
    exp = raw.experiment or {}
    stats = CollectStats(experiment_row=raw.experiment is not None)
    if spec is None:
        stored_spec = exp.get("spec")
        spec = stored_spec if isinstance(stored_spec, Mapping) else {}
    spec = dict(spec)
    summary = exp.get("summary") if isinstance(exp.get("summary"), Mapping) else None
    questions, attempts = _questions(raw, stats)
    if raw.experiment is None and not questions:
        raise ExperimentNotFound(
            f"experiment {experiment_id!r}: no experiments row and no telemetry"
        )
    pending = pending_from_states(states_of(raw.questions), acknowledged_questions(summary))
    stats.in_flight, stats.unseen = pending.in_flight, pending.unseen
    if pending.total:
        log.warning("%s: %d question(s) pending at collection (%s)", experiment_id,
                    pending.total, pending.describe())
    windows = _windows(raw)
    stats.windows = len(windows)
    faults = faults_from_events(raw.faults)
    stats.faults = len(faults)
    stats.coalesced = raw.event_counts.get(CACHE_COALESCED, 0)
    stats.llm_attempt_events = raw.event_counts.get(EventKind.LLM_ATTEMPT.value, 0)
    stats.orphan_dead_letters = dict(sorted(raw.orphan_dead_letters.items()))

    window = load_window(summary)
    stats.load_window_source = "summary"
    if window is None:
        window = intended_range(questions)
        stats.load_window_source = "intended_range"
        log.warning("experiment %s: no load summary stored; the load window is the range of "
                    "intended send times", experiment_id)
    if window is None:
        window = (collected_at, collected_at)
        stats.load_window_source = "empty"
    started = overrides.started_at if overrides.started_at is not None else window[0]
    ended = overrides.ended_at if overrides.ended_at is not None else window[1]
    if overrides.started_at is not None or overrides.ended_at is not None:
        stats.load_window_source = "override"

    llm_rows = [r for r in raw.questions if r.get("has_row")]
    threshold = overrides.score_threshold
    if threshold is None:
        threshold = spec_float(spec, "scoring", "threshold")
    if threshold is None:
        threshold = _most_common([r.get("score_threshold") for r in llm_rows])
    max_rounds = overrides.max_rounds
    if max_rounds is None:
        rounds = spec_float(spec, "scoring", "max_rounds")
        max_rounds = int(rounds) if rounds is not None else _most_common(
            [r.get("max_rounds") for r in llm_rows])
    seed = overrides.seed if overrides.seed is not None else spec.get("seed")
    warmup = overrides.warmup_s if overrides.warmup_s is not None else spec_float(spec, "warmup_s")
    slo = slo_of({"slo_s": overrides.slo_s}) if overrides.slo_s is not None else slo_of(spec)
    revision = overrides.git_revision or exp.get("git_revision") or git()
    found_versions = dict(versions or {})
    found_versions.update(overrides.component_versions or {})

    meta = RunMeta(
        run_name=overrides.run_name or exp.get("name") or experiment_id,
        experiment_id=experiment_id,
        seed=int(seed) if isinstance(seed, int | float) and not isinstance(seed, bool) else None,
        git_revision=revision,
        component_versions=found_versions,
        started_at=started,
        ended_at=max(started, ended),
        warmup_s=max(0.0, warmup or 0.0),
        slo_s=slo,
        score_threshold=threshold,
        max_rounds=max_rounds,
        collected_at=collected_at,
        stopped_early=stop_reason(summary),
        pacing_lag=pacing_lag(summary),
        status=outcome.status,
        failure=outcome.failure,
        overlapping_runs=list(outcome.overlapping_runs),
    )
    run = RunData(
        spec=spec,
        meta=meta,
        questions=questions,
        attempts=attempts,
        sim_counters=_sim_counters(sim_counters, summary),
        windows=windows,
        faults=faults,
    )
    return Collected(run, stats)


def collect_run(
    db_dsn: str,
    experiment_id: str,
    *,
    spec: Mapping[str, Any] | None = None,
    sim_counters: Mapping[str, float] | None = None,
    overrides: MetaOverrides | None = None,
    state_paths: StatePaths | None = None,
    clock: Callable[[], float] = time.time,
    outcome: RunOutcome | None = None,
) -> Collected:
    """Read experiment ``experiment_id`` from ``db_dsn`` and build its RunData and stats.

    ``spec`` defaults to the experiments row's; ``sim_counters`` must be this run's delta
    (:func:`counter_delta`); ``state_paths`` locate the Flink venv and the jars for the component
    versions (default: the local stack's); ``outcome`` says how the run ended (default: finished).
    Raises :class:`ExperimentNotFound`.
    """
    started = time.monotonic()
    raw = fetch_run(db_dsn, experiment_id)
    paths = state_paths if state_paths is not None else StatePaths.of_stack()
    versions = discover_versions(paths, server_version=raw.server_version)
    collected = build_run(raw, experiment_id, spec=spec, overrides=overrides,
                          sim_counters=sim_counters, versions=versions, collected_at=clock(),
                          outcome=outcome)
    log.info("collected %s in %.2fs: %s", experiment_id, time.monotonic() - started,
             collected.stats.as_dict())
    return collected


def collect(
    db_dsn: str,
    experiment_id: str,
    *,
    spec: Mapping[str, Any] | None = None,
    sim_counters: Mapping[str, float] | None = None,
    run_name: str | None = None,
    seed: int | None = None,
    git_revision: str | None = None,
    component_versions: Mapping[str, str] | None = None,
    warmup_s: float | None = None,
    slo_s: float | None = None,
    started_at: float | None = None,
    ended_at: float | None = None,
    state_paths: StatePaths | None = None,
    clock: Callable[[], float] = time.time,
    outcome: RunOutcome | None = None,
) -> RunData:
    """:func:`collect_run` with the meta overrides as keywords; returns the RunData only."""
    overrides = MetaOverrides(
        run_name=run_name, seed=seed, git_revision=git_revision,
        component_versions=component_versions, warmup_s=warmup_s, slo_s=slo_s,
        started_at=started_at, ended_at=ended_at,
    )
    return collect_run(db_dsn, experiment_id, spec=spec, sim_counters=sim_counters,
                       overrides=overrides, state_paths=state_paths, clock=clock,
                       outcome=outcome).run
