"""The run data model: everything the metrics need from one run, independent of where it is stored.

A collector (PostgreSQL today) fills a :class:`RunData`; :func:`experiments.metrics.compute` turns it
into metrics. All times are POSIX timestamps in seconds (float, UTC) and all durations are seconds.

Conventions the collector must follow:

- ``RunMeta.started_at`` is the start of the arrival schedule (the first intended send) and
  ``RunMeta.ended_at`` the end of the arrival schedule (no question is *meant* to be sent later).
  Everything after ``ended_at`` is the drain (see :mod:`experiments.metrics.steady`).
- One ``QuestionOutcome`` per request of the traffic generator. A cache hit is a row with
  ``cache_hit=True`` and the id of the question it was served from (ids may repeat for cache hits);
  every pass through the LLM has a ``question_id`` of its own, which its ``LlmAttempt`` rows carry.
- ``QuestionOutcome.rounds`` is the regeneration count: 0 when the first scored answer was final.
- ``QuestionOutcome.hops`` maps a hop name to its timestamps, one per round (index = round); see
  :data:`HOPS`. Missing hops are simply absent; the waterfall then folds that time into ``other``.
- ``LlmAttempt.delay_before_s`` is the in-worker backoff slept before the attempt;
  ``LlmAttempt.tier_wait_s`` the time from deferral to a retry tier until this attempt started
  (tier topic + relay + re-queue), 0 when the attempt was not deferred.
- ``RunData.sim_counters`` are the simulator's ground-truth counters for this run only (deltas,
  not totals since the simulator started), e.g. ``requests``, ``status_429``, ``status_5xx``.
- ``RunData.faults`` are the infrastructure faults injected during the run (one
  :class:`FaultEvent` per ``fault`` event of the experiment, see :mod:`experiments.faults`), in
  the order they started.

- ``LlmAttempt.worker`` is the id of the worker that made the call (``<host>-<index>-<pid>``, as
  its ``llm_attempt`` event says), None when unknown.
- ``RunMeta.pacing_lag`` is the generator's own measure of how late it called produce() (its
  ``LoadSummary.lag``), None when no load summary recorded it.

Versions (``RunData.version``): 1, the first; 2 adds ``faults``; 3 adds ``LlmAttempt.worker``
and ``RunMeta.pacing_lag``. A version 1 file loads as a run without faults; a version 1 or 2 file
as attempts of unknown workers and an unknown pacing lag.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TerminalState = Literal["accepted", "low_quality", "dead_lettered", "in_flight"]
AttemptStatus = Literal["ok", "error"]
#: how a run ended (see :attr:`RunMeta.status`)
RunStatus = Literal["finished", "failed", "stopped"]

#: Hop timestamps understood by the waterfall, in pipeline order. Each value is a list indexed by round.
HOPS: tuple[str, ...] = (
    "sent",  # the record was acknowledged by Kafka on qa.questions (generator at round 0, Flink later)
    "answered",  # the worker produced the answer to qa.answers
    "scored",  # Flink scored the answer
    "result",  # Flink produced the final record to qa.results (final round only)
)

#: Error classes of the design (section 5). Others are accepted and reported as they come.
ERROR_CLASSES: tuple[str, ...] = (
    "overload",
    "rate_limited",
    "quota_exhausted",
    "invalid_request",
    "bad_completion",
)

RUN_DATA_VERSION = 3


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class PacingLag(_Model):
    """How late the load generator was to send, by its own clock (``Pacer.lag_stats()`` in
    pipeline/generator/pacing.py): per ask, the time from its due moment to the generator getting
    to it (before the produce() call, so the Kafka acknowledgement is not in it). Over every ask
    of the run, warm-up included."""

    p50_s: float = 0.0
    p99_s: float = 0.0
    max_s: float = 0.0
    #: asks more than 10 ms late
    late_sends: int = 0


class RunMeta(_Model):
    """Who and what the run was; the report prints all of it."""

    run_name: str
    experiment_id: str
    seed: int | None = None
    git_revision: str | None = None
    component_versions: dict[str, str] = Field(default_factory=dict)
    started_at: float
    ended_at: float
    warmup_s: float = 0.0
    #: end-to-end latency objective for goodput; None = no SLO.
    slo_s: float | None = None
    #: the Flink acceptance threshold and max regeneration rounds used (for the threshold analysis).
    score_threshold: float | None = None
    max_rounds: int | None = None
    #: when telemetry was collected; questions unfinished by then are ``in_flight``.
    collected_at: float | None = None
    #: why the load stopped before the end of its schedule (e.g. the LLM's quota ran out); None
    #: if it ran to the end.
    stopped_early: str | None = None
    #: how the run ended: ``finished``; ``failed`` (e.g. its drain timed out, a step crashed) or
    #: ``stopped`` (ended on purpose before its end). A report of a run that did not finish is
    #: partial: it says so first, with :attr:`failure` and the questions still in flight.
    status: RunStatus = "finished"
    #: why the run failed or stopped, in a sentence; None when it finished.
    failure: str | None = None
    #: other experiments whose questions were in the shared pipeline while this run's were
    #: (their ids): their load may have contaminated this run's figures.
    overlapping_runs: list[str] = Field(default_factory=list)
    #: the generator's pacing lag (version 3); None: unknown (no load summary recorded it)
    pacing_lag: PacingLag | None = None


class RunOutcome(_Model):
    """How a run ended, as whoever ran it knows it; the collector copies it into :class:`RunMeta`
    (``collect(..., outcome=RunOutcome(status="failed", failure="..."))``)."""

    status: RunStatus = "finished"
    failure: str | None = None
    overlapping_runs: list[str] = Field(default_factory=list)


class QuestionOutcome(_Model):
    """One question's journey through the pipeline."""

    question_id: str
    intended_at: float
    #: the producer's send was acknowledged (for the producer's send latency), None if unknown.
    sent_at: float | None = None
    first_attempt_at: float | None = None
    durable_at: float | None = None
    state: TerminalState
    dlq_reason: str | None = None
    rounds: int = 0
    llm_calls: int = 0
    failed_attempts: int = 0
    score_round0: float | None = None
    score_final: float | None = None
    cache_hit: bool = False
    access_count: int = 1
    hops: dict[str, list[float | None]] = Field(default_factory=dict)

    @field_validator("hops", mode="before")
    @classmethod
    def _scalar_hops(cls, value: Any) -> Any:
        """Accept ``{"scored": t}`` as shorthand for ``{"scored": [t]}``."""
        if isinstance(value, dict):
            return {k: (v if isinstance(v, list) else [v]) for k, v in value.items()}
        return value


class LlmAttempt(_Model):
    """One call to the LLM endpoint, as the client saw it."""

    question_id: str
    round: int = 0
    attempt: int = 1
    started_at: float
    ended_at: float
    status: AttemptStatus
    error_class: str | None = None
    delay_before_s: float = 0.0
    tier_wait_s: float = 0.0
    #: retry tier the attempt came back from (e.g. "5s"), None if it was not deferred.
    tier: str | None = None
    #: the worker that made the call (``<host>-<index>-<pid>``, version 3); None: unknown
    worker: str | None = None


class WindowEvent(_Model):
    """One Flink scoring window's summary."""

    window_start: float
    window_end: float | None = None
    scored: int = 0
    accepted: int = 0
    sent_back: int = 0
    low_quality: int = 0
    mean_score: float | None = None


#: fault actions that last ``duration_s`` (the others are instantaneous: a kill, a restart)
LASTING_FAULTS: frozenset[str] = frozenset({"pause", "outage"})


class FaultEvent(_Model):
    """One infrastructure fault as it was injected (a ``fault`` event's attrs).

    ``at_s`` is when the schedule wanted it (seconds after the load started); ``started_at`` and
    ``ended_at`` are when it actually started and ended (epoch seconds; equal for a kill or a
    restart). ``error`` is set when injecting or ending it failed: the fault may not have
    happened (or not have ended on time).
    """

    at_s: float
    #: kill, restart, pause, outage (see :mod:`experiments.faults`); kept open: a new action
    #: still reaches the report.
    action: str
    #: the service hit: kafka, postgres, flink-taskmanager, storage, relay, worker, llm, ...
    target: str
    duration_s: float = 0.0
    #: outage: the HTTP status every LLM request got
    status: int | None = None
    #: worker target: which worker (0-based); None: every worker
    worker: int | None = None
    started_at: float
    ended_at: float | None = None
    detail: str = ""
    error: str | None = None

    @property
    def lasts(self) -> bool:
        """A pause or an outage: the fault holds for ``duration_s`` and then ends."""
        return self.action in LASTING_FAULTS

    @property
    def end_at(self) -> float:
        """When the fault ended: ``ended_at``, else (not recorded) the planned end."""
        if self.ended_at is not None:
            return max(self.started_at, self.ended_at)
        return self.started_at + (self.duration_s if self.lasts else 0.0)

    @property
    def label(self) -> str:
        """A short name for plots and tables: "kill storage", "pause worker 0", "outage llm (503)"."""
        target = self.target
        if self.target == "worker":
            target = "workers" if self.worker is None else f"worker {self.worker}"
        text = f"{self.action} {target}"
        if self.action == "outage" and self.status is not None:
            text += f" ({self.status})"
        return text


class RunData(_Model):
    """Everything one run produced that metrics are computed from."""

    version: int = RUN_DATA_VERSION
    spec: dict[str, Any] = Field(default_factory=dict)
    meta: RunMeta
    questions: list[QuestionOutcome] = Field(default_factory=list)
    attempts: list[LlmAttempt] = Field(default_factory=list)
    sim_counters: dict[str, float] = Field(default_factory=dict)
    windows: list[WindowEvent] = Field(default_factory=list)
    #: infrastructure faults injected during the run (version 2), ordered by start
    faults: list[FaultEvent] = Field(default_factory=list)

    def to_json(self, indent: int | None = None) -> str:
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> RunData:
        return cls.model_validate_json(text)

    def save(self, path: Path | str) -> Path:
        """Write the run as JSON (fixtures, offline re-analysis)."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.to_json(), encoding="utf-8")
        return out

    @classmethod
    def load(cls, path: Path | str) -> RunData:
        return cls.from_json(Path(path).read_bytes())
