"""The typed model of metrics.json: what :func:`experiments.metrics.compute` writes and every
report, comparison, plot and the index read (by attribute, never by a string key).

Every section forbids unknown keys, so a metric renamed on one side fails loudly on the other
(at compute time, and when an old or foreign file is read) instead of printing "None" in a
report. Mappings keyed by data (error classes, retry tiers, waterfall parts, headline keys) stay
``dict``s; the simulator's counters are open-ended and kept as extras of :class:`SimulatorTruth`.

Versions (``schema_version``, "major.minor") and the upgrade of older files live in
:mod:`experiments.metrics.versions`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from experiments.metrics.histogram import PERCENTILES

#: The version this code writes. Minor bumps add or move keys and are upgraded on read (see
#: :mod:`experiments.metrics.versions`); a major bump means older files can no longer be read.
SCHEMA_VERSION = "1.3"

RunStatus = Literal["finished", "failed", "stopped"]
#: ``[seconds, fraction]``
CdfPoint = tuple[float, float]


class Section(BaseModel):
    """A block of metrics.json: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")


class LatencySummary(Section):
    """count, mean, min, the :data:`~experiments.metrics.histogram.PERCENTILES` and max, in
    seconds (None when empty)."""

    count: int = 0
    mean: float | None = None
    min: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    p99_9: float | None = None
    max: float | None = None
    #: values outside the histogram's range, clamped to it (0 in a healthy run).
    clamped_negative: int = 0
    clamped_high: int = 0

    def percentiles(self) -> list[tuple[str, float | None]]:
        """``[(key, seconds), ...]`` in the order of ``PERCENTILES`` (p50 ... p99_9)."""
        values = {"p50": self.p50, "p90": self.p90, "p95": self.p95, "p99": self.p99}
        values["p99_9"] = self.p99_9
        return [(key, values[key]) for key, _ in PERCENTILES]


class RunInfo(Section):
    """Who and what the run was (times as ISO 8601 UTC strings)."""

    run_name: str
    experiment_id: str
    seed: int | None = None
    git_revision: str | None = None
    component_versions: dict[str, str] = Field(default_factory=dict)
    started_at: str | None = None
    ended_at: str | None = None
    collected_at: str | None = None
    warmup_s: float = 0.0
    slo_s: float | None = None
    score_threshold: float | None = None
    max_rounds: int | None = None
    #: with repeats: the repeat whose plots and tables the report shows.
    representative_run: str | None = None


class Outcome(Section):
    """How the run ended. A run that did not finish, or shared the pipeline with another, gets a
    banner at the top of its report (see :mod:`experiments.report.outcome`)."""

    status: RunStatus = "finished"
    #: why the run failed or was stopped, in a sentence; None when it finished.
    failure: str | None = None
    #: questions of the whole run still in flight when telemetry was collected (None: unknown,
    #: e.g. a file written before this was recorded).
    in_flight_at_collection: int | None = None
    #: ids of other experiments whose questions were in the pipeline while this run's were.
    overlapping_runs: list[str] = Field(default_factory=list)
    #: why the load stopped before the end of its schedule (e.g. the LLM's quota ran out).
    stopped_early: str | None = None

    @property
    def partial(self) -> bool:
        """The run did not finish: its figures cover only part of it."""
        return self.status != "finished"

    @classmethod
    def of_repeats(cls, outcomes: list[tuple[str, Outcome]], own_ids: set[str]) -> Outcome:
        """One outcome for the repeats of a spec: the worst status (failed, then stopped), each
        repeat's reason prefixed with its name, in-flight counts summed (None if any is
        unknown), overlaps united except the repeats' own experiment ids (``own_ids``)."""
        statuses = {o.status for _, o in outcomes}
        status: RunStatus = next((s for s in ("failed", "stopped") if s in statuses), "finished")
        failures = [f"{name}: {o.failure}" for name, o in outcomes if o.failure]
        stops = [f"{name}: {o.stopped_early}" for name, o in outcomes if o.stopped_early]
        counts = [o.in_flight_at_collection for _, o in outcomes]
        overlaps = dict.fromkeys(r for _, o in outcomes for r in o.overlapping_runs)
        return cls(
            status=status,
            failure="; ".join(failures) or None,
            in_flight_at_collection=None if None in counts else sum(c or 0 for c in counts),
            overlapping_runs=[r for r in overlaps if r not in own_ids],
            stopped_early="; ".join(stops) or None,
        )


class Window(Section):
    """The steady window, relative to the start of the load (seconds)."""

    start_s: float
    end_s: float
    duration_s: float
    load_duration_s: float
    cooldown_s: float = 0.0
    warmup_s: float = 0.0


class Counts(Section):
    questions: int
    steady: int
    trimmed_warmup: int
    trimmed_drain: int
    steady_by_state: dict[str, int] = Field(default_factory=dict)
    steady_in_flight: int = 0
    duplicate_llm_question_ids: int = 0


class Population(Section):
    answered_via_llm: int
    note: str


class Waterfall(Section):
    parts: list[str]
    by_part: dict[str, LatencySummary]


class Latency(Section):
    population: Population
    e2e: LatencySummary
    e2e_cdf: list[CdfPoint]
    from_first_attempt: LatencySummary
    from_first_attempt_cdf: list[CdfPoint]
    producer_send: LatencySummary
    llm_attempt: LatencySummary
    llm_attempt_ok: LatencySummary
    llm_attempt_cdf: list[CdfPoint]
    llm_per_question: LatencySummary
    time_to_dead_letter: LatencySummary
    waterfall: Waterfall


class Throughput(Section):
    window_s: float
    offered_qps: float | None
    throughput_qps: float | None
    llm_throughput_qps: float | None
    goodput_qps: float | None
    goodput_slo_qps: float | None
    slo_s: float | None
    dead_lettered_per_s: float | None
    backlog_at_load_end: int
    drain_s: float | None


class Rates(Section):
    """Per-bucket rates (per second); ``accepted_slo`` only with an SLO."""

    offered: list[float]
    completed: list[float]
    accepted: list[float]
    dead_lettered: list[float]
    accepted_slo: list[float] | None = None


class Timeseries(Section):
    bucket_s: float
    t: list[float]
    rates_per_s: Rates
    #: attempt outcome ("ok" or the error class) -> attempts per second, per bucket.
    attempts_per_s: dict[str, list[float]]
    e2e_p50_s: list[float | None]
    e2e_p99_s: list[float | None]

    def failed_attempts_per_s(self) -> list[float]:
        """Attempts per second that were not "ok", per bucket."""
        failed = [v for k, v in self.attempts_per_s.items() if k != "ok"]
        return [sum(v[i] for v in failed) for i in range(len(self.t))]


class ClassRecovery(Section):
    failed: int
    recovered: int
    rate: float | None


class Recovery(Section):
    failed_at_least_once: int
    recovered: int
    recovery_rate: float | None
    recovered_in_worker: int
    recovered_via_retry_tier: int
    by_error_class: dict[str, ClassRecovery] = Field(default_factory=dict)


class TierWait(Section):
    deferrals: int
    mean_wait_s: float
    total_wait_s: float


class RetryTiers(Section):
    by_tier: dict[str, TierWait] = Field(default_factory=dict)
    questions_deferred: int
    mean_wait_per_question_s: float | None
    wait_of_deferred_questions: LatencySummary
    in_worker_backoff_per_question: LatencySummary


class DeadLetters(Section):
    count: int
    rate: float | None
    by_reason: dict[str, int] = Field(default_factory=dict)


class ClientView(Section):
    requests: int
    status_429: int
    overload: int
    amplification: float | None


class SimulatorTruth(BaseModel):
    """The simulator's counters for this run (open-ended: every counter it reports is kept) and
    the amplification they imply."""

    model_config = ConfigDict(extra="allow")

    requests: float | None = None
    status_429: float | None = None
    amplification: float | None = None

    def counters(self) -> dict[str, float | None]:
        """Every counter, declared and extra, by name."""
        return {k: (None if v is None else float(v)) for k, v in self.model_dump().items()}


class GroundTruth(Section):
    llm_questions_run: int
    client: ClientView
    simulator: SimulatorTruth | None
    simulator_minus_client: dict[str, float] | None
    note: str


class Retries(Section):
    llm_questions: int
    llm_calls: int
    amplification: float | None
    failed_attempts_per_question: float | None
    regeneration_calls_per_question: float | None
    attempts_by_class: dict[str, int] = Field(default_factory=dict)
    error_rate: float | None
    recovery: Recovery
    retry_tiers: RetryTiers
    dead_letters: DeadLetters
    ground_truth: GroundTruth


class ScoreDistribution(Section):
    count: int
    mean: float | None
    median: float | None
    counts: list[int]


class MeanOnly(Section):
    mean: float | None


class ThresholdRow(Section):
    threshold: float
    pass_round0: float
    accepted_final: float
    expected_generations: float
    expected_llm_calls: float


class ThresholdAnalysis(Section):
    """Acceptance and LLM cost by threshold; only ``rows``, ``current`` and
    ``cost_capped_threshold`` when there were no round-0 scores."""

    rows: list[ThresholdRow] = Field(default_factory=list)
    current: float | None = None
    cost_capped_threshold: float | None = None
    model: str | None = None
    max_rounds: int | None = None
    calls_per_generation: float | None = None
    generation_budget: float | None = None


class FlinkWindows(Section):
    count: int
    scored: int
    accepted: int
    sent_back: int
    low_quality: int
    mean_score: float | None
    t: list[float]
    mean_score_by_window: list[float | None]
    scored_by_window: list[int]


class Quality(Section):
    bin_edges: list[float]
    round0: ScoreDistribution
    final: ScoreDistribution
    round0_of_finished: MeanOnly
    mean_gain: float | None
    extra_llm_calls: int
    extra_calls_per_question: float | None
    gain_per_extra_call: float | None
    sent_back_share: float | None
    accepted_share: float | None
    low_quality_share: float | None
    threshold: float | None
    max_rounds: int
    threshold_analysis: ThresholdAnalysis
    flink_windows: FlinkWindows | None


class AccessCount(Section):
    mean: float | None
    max: int | None
    distribution: dict[str, int] = Field(default_factory=dict)


class Cache(Section):
    requests: int
    hits: int
    hit_rate: float | None
    hit_latency: LatencySummary
    access_count: AccessCount


class FaultImpact(Section):
    """One injected infrastructure fault and what it did to the run (definitions in
    :mod:`experiments.metrics.fault_impact`); times in seconds after the load started."""

    #: a short name: "kill storage", "pause worker 0", "outage llm (503)"
    label: str
    action: str
    target: str
    #: when the schedule wanted it
    at_s: float
    #: when it actually started and ended (equal for a kill or a restart)
    start_s: float
    end_s: float
    #: the scheduled duration (pause, outage); 0 for a kill or a restart
    duration_s: float = 0.0
    detail: str = ""
    #: why injecting (or ending) the fault failed; None when it went as planned
    error: str | None = None
    #: "start" (kill, restart) or "end" (pause, outage): where the recovery time counts from
    recovery_from: Literal["start", "end"]
    #: seconds until answered throughput was back to 90 % of the offered load for 5 s; None:
    #: not within the run (``recovery_note`` says why)
    recovery_s: float | None = None
    recovery_note: str | None = None
    #: the end of the fault window (reference + recovery, or the end of the load)
    window_end_s: float
    #: LLM passes in the pipeline during the fault window
    affected: int
    #: LLM passes durable before the fault, untouched by earlier faults
    baseline_questions: int
    #: the baseline's end-to-end p99: a slower affected question is delayed
    delay_threshold_s: float | None = None
    #: affected questions slower than the threshold, or unfinished; None: baseline too small
    delayed: int | None = None
    #: LLM calls of the affected questions
    llm_calls: int
    #: the baseline's LLM calls per terminal pass
    baseline_amplification: float | None = None
    expected_llm_calls: float | None = None
    #: llm_calls - expected_llm_calls; None: baseline too small
    extra_llm_calls: float | None = None


class WorkerStats(Section):
    """One LLM worker's share of the whole run (every LLM pass, not only the steady window);
    definitions in :mod:`experiments.metrics.workers`."""

    #: the worker's id, ``<host>-<index>-<pid>``; None: attempts whose worker is unknown
    worker: str | None
    #: a short name, distinct among the run's workers ("0", "3f2a9c", "#1 pid 4242", "unknown")
    label: str
    #: answered questions (accepted or low_quality) whose final successful LLM call it made
    questions_answered: int
    #: LLM calls it made, and how many of them failed
    attempts: int
    errors: int
    #: its LLM calls' duration, p50 and p99 (None without calls)
    attempt_p50_s: float | None = None
    attempt_p99_s: float | None = None


class PacingLagStats(Section):
    """How late the load generator was to send, by its own clock (definitions in
    docs/metrics.md#pacing-lag): from an ask's intended time to the generator getting to it,
    before the produce() call (the Kafka acknowledgement is not in it; the producer send is).
    Over every ask of the run, warm-up included."""

    p50_s: float
    p99_s: float
    max_s: float
    #: asks more than 10 ms late
    late_sends: int

    @classmethod
    def of_repeats(cls, lags: list[PacingLagStats | None]) -> PacingLagStats | None:
        """One pacing lag for the repeats of a spec: the worst repeat's, figure by figure (the
        largest p50, p99 and max; not a percentile over the pooled asks), and the late sends
        summed. None when any repeat's is unknown: a repeat whose lag was not recorded may have
        been the late one."""
        known = [lag for lag in lags if lag is not None]
        if not known or len(known) < len(lags):
            return None
        return cls(
            p50_s=max(lag.p50_s for lag in known),
            p99_s=max(lag.p99_s for lag in known),
            max_s=max(lag.max_s for lag in known),
            late_sends=sum(lag.late_sends for lag in known),
        )


class RepeatStat(Section):
    n: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    values: list[float]


class Repeats(Section):
    """Repeats of one spec: each headline's mean and bootstrap CI."""

    n: int
    confidence: float
    resamples: int
    seed: int
    method: str
    #: headline key -> its statistics over the repeats.
    metrics: dict[str, RepeatStat]
    runs: list[str] = Field(default_factory=list)


class RunMetrics(Section):
    """metrics.json of one run (or of the repeats of one spec)."""

    schema_version: str = SCHEMA_VERSION
    kind: Literal["run-metrics"] = "run-metrics"
    run: RunInfo
    outcome: Outcome = Field(default_factory=Outcome)
    #: the experiment spec, secrets removed (free-form: the spec has its own schema).
    spec: dict[str, Any] = Field(default_factory=dict)
    window: Window
    counts: Counts
    latency: Latency
    throughput: Throughput
    timeseries: Timeseries
    retries: Retries
    quality: Quality
    cache: Cache
    #: infrastructure faults injected during the run (1.2), in the order they started
    faults: list[FaultImpact] = Field(default_factory=list)
    #: the LLM workers' shares of the run (1.3), in worker order; empty when no attempt names its
    #: worker
    workers: list[WorkerStats] = Field(default_factory=list)
    #: the load generator's pacing lag (1.3); None: not recorded (older files, a run without a
    #: load summary). With repeats, the worst repeat's (:meth:`PacingLagStats.of_repeats`).
    pacing_lag: PacingLagStats | None = None
    #: headline key (see :mod:`experiments.metrics.headline`) -> value, None where not measured.
    headline: dict[str, float | None] = Field(default_factory=dict)
    repeats: Repeats | None = None

    @field_validator("headline")
    @classmethod
    def _known_headlines(cls, value: dict[str, float | None]) -> dict[str, float | None]:
        from experiments.metrics.headline import BY_KEY  # local: headline types against this model

        unknown = sorted(set(value) - set(BY_KEY))
        if unknown:
            raise ValueError(f"unknown headline keys {unknown}")
        return value

    def repeat_stats(self) -> Repeats | None:
        """The repeats block when it holds 2+ repeats (fewer give no interval), else None."""
        return self.repeats if self.repeats is not None and self.repeats.n >= 2 else None
