"""The experiment spec: one pydantic model for the YAML files in experiments/specs/, the Airflow
trigger form (its JSON schema, see experiments.params), and `harness trigger --set`.

A spec has a few top-level fields and seven sections, each a flat model so that every field is
one field of the trigger form:

    name, base, description, tags, seed, repeats, warmup_s, drain_timeout_s, slo_s, faults
    dataset:  source, path, size, offset, repeat_share
    arrival:  kind, rate, duration_s, cv, on_s, off_s, rate_from, rate_to, ramp_s, steps, trace_path
    llm:      backend, base_url, model, profile, profile_overrides, max_tokens, timeout_s,
              stop_after_quota_errors
    retry:    the retry policy (pipeline.retry.spec: kind, jitter, base_s, multiplier, cap_s, ...)
              plus max_deferrals
    scoring:  threshold, max_rounds, scorer
    workers:  count, concurrency
    slo:      e2e_p50_s_max, e2e_p99_s_max, goodput_ratio_min, dlq_rate_max, amplification_max
              (optional thresholds a run is judged against, see experiments.slo)

``base`` starts a spec from a saved spec file or an earlier run (see :func:`merge_base`);
``llm.profile_overrides`` adjusts the simulator's named profile (validated against the
simulator's own profile model, pipeline.llm.sim.profiles).

The sections reuse the pipeline's own models instead of restating their bounds: the retry section
is :class:`pipeline.retry.spec.RetryPolicySpec` plus one field, and the arrival fields take their
types (bounds included) from :mod:`pipeline.arrivals`, whose process for the chosen kind also
checks the section. So the form, the YAML files and the run accept the same values.

The form flattens sections as ``<section>_<field>`` (``retry_base_s``; a top-level field such as
``slo_s`` stays itself although ``slo`` is a section); :func:`flatten` and
:func:`unflatten` convert, and :func:`validate` checks either shape against the one model,
raising :class:`SpecError` that names the field by title and path
(``Rate (questions/s) (arrival.rate): must be > 0, got 0``).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from experiments.faults import FaultSpec
from pipeline.arrivals import ARRIVALS, Burstiness, Period, Rate, RateOrZero, build_arrival
from pipeline.llm.sim.profiles import NAMED_PROFILES, UnknownProfileError, resolve_profile
from pipeline.llm.sim.profiles import Profile as SimProfile
from pipeline.retry.spec import RetryPolicySpec
from pipeline.spec_model import (
    SpecError,
    SpecModel,
    form_schema,
    one_of,
    rule,
    spec_error,
    validate_model,
)

__all__ = [
    "APPLIES_WHEN",
    "ARRIVAL_KINDS",
    "SCORERS",
    "SECTIONS",
    "SPECS_DIR",
    "ExperimentSpec",
    "SloSection",
    "SpecError",
    "apply_overrides",
    "arrival_spec",
    "changed_fields",
    "defaults",
    "describe_changes",
    "flat_properties",
    "flatten",
    "load",
    "merge_base",
    "resolve_base",
    "retry_policy",
    "schema",
    "simulator_profile",
    "unflatten",
    "validate",
]

SPECS_DIR = Path(__file__).parent / "specs"
SECTIONS = ("dataset", "arrival", "llm", "retry", "scoring", "workers", "slo")
ARRIVAL_KINDS: tuple[str, ...] = tuple(ARRIVALS)
SCORERS = ("lexical", "minilm")
DEFAULT_NAME = "demo"
STEPS_PATTERN = r"^\s*\d+(\.\d+)?\s*:\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?\s*:\s*\d+(\.\d+)?)*\s*$"

BASE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$"
PROFILES_MD = "The simulator's fault profile for this run:\n\n" + "\n".join(
    f"- **{name}**: {profile.get('description', '')}" for name, profile in NAMED_PROFILES.items()
)

#: Fields that apply only for some values of another field of their section:
#: dotted field -> (dotted controlling field, the values it applies for). The form makes them
#: optional and says so; the spec keeps (and ignores) their values otherwise.
APPLIES_WHEN: dict[str, tuple[str, tuple[str, ...]]] = {
    "dataset.path": ("dataset.source", ("yahoo_csv", "hf")),
    "arrival.rate": ("arrival.kind", ("constant", "poisson", "gamma", "onoff")),
    "arrival.cv": ("arrival.kind", ("gamma",)),
    "arrival.on_s": ("arrival.kind", ("onoff",)),
    "arrival.off_s": ("arrival.kind", ("onoff",)),
    "arrival.rate_from": ("arrival.kind", ("ramp",)),
    "arrival.rate_to": ("arrival.kind", ("ramp",)),
    "arrival.ramp_s": ("arrival.kind", ("ramp",)),
    "arrival.steps": ("arrival.kind", ("step",)),
    "arrival.trace_path": ("arrival.kind", ("trace",)),
    "llm.base_url": ("llm.backend", ("openai",)),
    "llm.profile": ("llm.backend", ("simulator",)),
    "llm.profile_overrides": ("llm.backend", ("simulator",)),
    "retry.jitter": ("retry.kind", ("exponential_jitter",)),
    "retry.base_s": ("retry.kind", ("fixed", "exponential", "exponential_jitter")),
    "retry.multiplier": ("retry.kind", ("exponential", "exponential_jitter")),
    "retry.concurrency_limit": ("retry.concurrency", ("fixed", "aimd")),
    "retry.concurrency_min": ("retry.concurrency", ("aimd",)),
    "retry.concurrency_max": ("retry.concurrency", ("aimd",)),
    "retry.aimd_increase": ("retry.concurrency", ("aimd",)),
    "retry.aimd_backoff_ratio": ("retry.concurrency", ("aimd",)),
}

ArrivalKind = one_of(ARRIVAL_KINDS)
ProfileName = one_of(NAMED_PROFILES)
Scorer = Literal["lexical", "minilm"]


class DatasetSection(SpecModel):
    """Where the questions come from."""

    source: Literal["synthetic", "yahoo_csv", "hf"] = Field(
        "synthetic",
        title="Dataset source",
        description="synthetic: the deterministic synthetic corpus; yahoo_csv: the 4-column "
        "Yahoo! Answers CSV; hf: the Hugging Face yahoo_answers_topics layout.",
    )
    path: str = Field(
        "", title="Dataset file", description="File for yahoo_csv / hf (ignored for synthetic)."
    )
    size: int = Field(
        200,
        ge=1,
        le=1_000_000,
        title="Question pool size",
        description="Questions taken from the dataset.",
    )
    offset: int = Field(
        0, ge=0, le=10_000_000, title="Offset", description="Rows skipped before the pool starts."
    )
    repeat_share: float = Field(
        0.0,
        ge=0,
        le=1,
        title="Repeat share",
        description="Share of sends that ask a question asked before (cache hits once answered).",
    )

    @model_validator(mode="after")
    def _file_when_not_synthetic(self) -> DatasetSection:
        if self.source != "synthetic" and not self.path:
            raise rule("path", f"required for source {self.source!r}")
        return self


def _process_spec(a: Mapping[str, Any]) -> dict[str, Any]:
    """The pipeline.arrivals spec of a (flat) arrival section: the chosen kind's fields only."""
    kind = a["kind"]
    if kind in ("constant", "poisson"):
        return {"kind": kind, "rate": a["rate"]}
    if kind == "gamma":
        return {"kind": kind, "rate": a["rate"], "cv": a["cv"]}
    if kind == "onoff":
        return {"kind": kind, "rate": a["rate"], "on_s": a["on_s"], "off_s": a["off_s"]}
    if kind == "ramp":
        return {"kind": kind, "rate_from": a["rate_from"], "rate_to": a["rate_to"],
                "ramp_s": a["ramp_s"]}
    if kind == "step":
        steps = [
            [float(x) for x in pair.split(":")] for pair in a["steps"].split(",") if pair.strip()
        ]
        return {"kind": kind, "steps": steps}
    return {"kind": "trace", "path": a["trace_path"]}


# The arrival process's fields that are not fields of the flat section, and the section field
# holding them.
_PROCESS_TO_SECTION = {"path": "trace_path", "offsets": "trace_path", "steps": "steps", "$": "kind"}


class ArrivalSection(SpecModel):
    """When questions are sent. Every field has the bounds of the arrival process field it feeds
    (pipeline.arrivals); the process of the chosen kind then checks the rules across fields."""

    kind: ArrivalKind = Field(
        "poisson",
        title="Arrival process",
        description="constant, poisson, gamma (bursty, cv), onoff, ramp, step or trace replay.",
    )
    rate: Rate = Field(
        5.0,
        title="Rate (questions/s)",
        description="Mean arrival rate (constant, poisson, gamma, onoff while on).",
    )
    duration_s: float = Field(
        60.0, gt=0, le=86_400, title="Duration (s)", description="How long the load is generated."
    )
    cv: Burstiness = Field(
        2.0,
        title="Burstiness (cv)",
        description="gamma: coefficient of variation of the gaps (1 = Poisson; higher = burstier).",
    )
    on_s: Period = Field(5.0, title="On time (s)", description="onoff: length of a burst.")
    off_s: Period = Field(5.0, title="Off time (s)", description="onoff: silence between bursts.")
    rate_from: RateOrZero = Field(1.0, title="Ramp start rate", description="ramp: rate at t=0.")
    rate_to: RateOrZero = Field(
        10.0, title="Ramp end rate", description="ramp: rate at the end of the ramp."
    )
    ramp_s: Period = Field(
        60.0, title="Ramp time (s)", description="ramp: seconds from rate_from to rate_to."
    )
    steps: str = Field(
        "0:2, 30:8",
        pattern=STEPS_PATTERN,
        title="Steps",
        description="step: 't:rate' pairs, e.g. '0:2, 30:8, 60:4'.",
    )
    trace_path: str = Field(
        "", title="Trace file", description="trace: a file of send offsets (seconds)."
    )

    @model_validator(mode="after")
    def _process_accepts(self) -> ArrivalSection:
        if self.kind == "trace" and not self.trace_path:
            raise rule("trace_path", "required for kind 'trace'")
        try:
            build_arrival(_process_spec(self.model_dump()))
        except SpecError as exc:
            head = exc.field.split(".", 1)[0]
            raise rule(_PROCESS_TO_SECTION.get(head, head), exc.message) from None
        return self


class LLMSection(SpecModel):
    """The LLM the workers call."""

    backend: Literal["simulator", "openai"] = Field(
        "simulator",
        title="Backend",
        description="simulator: the built-in simulator (fault profiles); openai: any "
        "OpenAI-compatible endpoint at base_url (its API key comes from HARNESS_LLM_API_KEY, "
        "never from the spec).",
    )
    base_url: str = Field(
        "", title="Base URL", description="OpenAI-compatible base URL (backend openai)."
    )
    model: str = Field("sim-gpt", title="Model", description="Model name sent with every request.")
    profile: ProfileName = Field(
        "flaky",
        title="Fault profile",
        description="The simulator's fault profile for this run (see docs/experiments.md).",
        json_schema_extra={"description_md": PROFILES_MD},
    )
    profile_overrides: dict[str, Any] | None = Field(
        None,
        title="Profile overrides",
        description="Changes to the chosen profile, as the simulator's profile model takes them "
        "(nested objects merge, lists replace): latency {fixed_s, median_s, sigma, per_token_s}, "
        "rate_limits {requests_per_min, tokens_per_min, ...}, errors [{status, probability, "
        "window}], quota_windows, concurrency {limit, max_queue}, hang, empty_probability, "
        "malformed_probability, quality. E.g. {\"rate_limits\": {\"requests_per_min\": 60, "
        "\"tokens_per_min\": 40000}, \"latency\": {\"median_s\": 2}, \"errors\": "
        "[{\"status\": 529, \"probability\": 0.03}]}. Simulator only.",
    )
    max_tokens: int = Field(
        256, ge=1, le=32_768, title="Max tokens", description="max_tokens per completion."
    )
    timeout_s: float = Field(
        30.0, gt=0, le=600, title="Attempt timeout (s)", description="Deadline of one LLM attempt."
    )
    stop_after_quota_errors: int = Field(
        0,
        ge=0,
        le=1_000_000,
        title="Stop after quota errors",
        description="Stop sending new questions once the workers have recorded this many "
        "quota-exhausted (429 insufficient_quota) LLM attempts for the run; what was sent still "
        "finishes. 0 = never stop early.",
    )

    @model_validator(mode="after")
    def _endpoint_for_openai(self) -> LLMSection:
        if self.backend == "openai" and not self.base_url:
            raise rule("base_url", "required for backend 'openai'")
        return self

    @model_validator(mode="after")
    def _overrides_fit_the_profile(self) -> LLMSection:
        if not self.profile_overrides:
            return self
        if self.backend != "simulator":
            raise rule("profile_overrides", "apply only to the simulator (backend simulator); "
                       f"remove them for backend {self.backend!r}")
        labels = sorted(set(self.profile_overrides) & {"name", "seed"})
        if labels:
            raise rule(f"profile_overrides.{labels[0]}",
                       "not an override (the fault profile names the base, the spec's seed "
                       "seeds the simulator)")
        simulator_profile(self.profile, self.profile_overrides)
        return self


def simulator_profile(profile: str, overrides: Mapping[str, Any] | None) -> SimProfile:
    """The simulator's profile for a spec's ``llm.profile`` and ``llm.profile_overrides``.

    Raises the :func:`rule` error naming the override's path inside ``profile_overrides``
    (``profile_overrides.rate_limits.requests_per_min``), for use inside a model validator."""
    try:
        return resolve_profile({"name": profile, **(overrides or {})})
    except ValidationError as exc:
        problem = spec_error(exc, SimProfile)
        message = problem.message.replace("not a field of this spec",
                                          "not a field of the simulator's profile")
        raise rule(f"profile_overrides.{problem.field}", message) from None
    except UnknownProfileError as exc:
        raise rule("profile", str(exc)) from None


class RetrySection(RetryPolicySpec):
    """The retry policy the records carry, plus the worker's deferral limit."""

    max_deferrals: int = Field(
        5,
        ge=0,
        le=100,
        title="Max deferrals",
        description="Hand-offs to a retry tier topic (rate limits, quota) per round before the "
        "question is dead-lettered.",
    )


class ScoringSection(SpecModel):
    """How answers are scored, and when they are regenerated."""

    threshold: float = Field(
        0.3,
        ge=-1,
        le=1,
        title="Score threshold",
        description="Answers scoring below it are regenerated while rounds are left.",
    )
    max_rounds: int = Field(
        2,
        ge=0,
        le=20,
        title="Max regeneration rounds",
        description="Regenerations allowed after the first answer (0 = never regenerate).",
    )
    scorer: Scorer = Field(
        "lexical",
        title="Scorer",
        description="lexical: fast token cosine; minilm: the seed's metric, all-MiniLM-L6-v2 "
        "embedding cosine.",
    )


class WorkersSection(SpecModel):
    """The LLM worker processes."""

    count: int = Field(
        1,
        ge=1,
        le=6,
        title="Worker processes",
        description="LLM worker processes in the consumer group.",
    )
    concurrency: int = Field(
        64,
        ge=1,
        le=2000,
        title="Requests in flight per worker",
        description="Bound on concurrent LLM calls per worker.",
    )


Seconds = Annotated[float, Field(gt=0, le=86_400)]
Ratio = Annotated[float, Field(ge=0, le=1)]


class SloSection(SpecModel):
    """Thresholds the run is judged against (experiments.slo); each is optional, none = no
    verdict. Latencies are end-to-end from the intended send time over the steady state."""

    e2e_p50_s_max: Seconds | None = Field(
        None, title="SLO: p50 latency max (s)", description="Median end-to-end latency at most this."
    )
    e2e_p99_s_max: Seconds | None = Field(
        None, title="SLO: p99 latency max (s)", description="p99 end-to-end latency at most this."
    )
    goodput_ratio_min: Ratio | None = Field(
        None,
        title="SLO: goodput / offered min",
        description="Goodput (accepted answers per second; within the latency SLO slo_s when it "
        "is set) divided by the offered rate, at least this.",
    )
    dlq_rate_max: Ratio | None = Field(
        None,
        title="SLO: dead-letter rate max",
        description="Share of questions dead-lettered, at most this (0.01 = 1%).",
    )
    amplification_max: Annotated[float, Field(ge=1, le=1000)] | None = Field(
        None,
        title="SLO: retry amplification max",
        description="LLM calls per question sent to the LLM (error retries and regenerations "
        "included; 1 = no call repeated), at most this.",
    )


class ExperimentSpec(SpecModel):
    """An experiment: the load, the LLM, the retry policy, scoring and workers."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$",
        title="Run name",
        description="Runs of the same name are compared with each other.",
        json_schema_extra={"default": DEFAULT_NAME},  # required in a spec; the form's default
    )
    base: str | None = Field(
        None,
        pattern=BASE_PATTERN,
        title="Start from",
        description="A spec file of experiments/specs/ (demo) or an earlier run's label "
        "(backoff-1s): its values are the defaults, the fields set here override them. "
        "Consumed when the run starts (the run's description names it).",
    )
    description: str = Field("", title="Description", description="Free text kept with the run.")
    tags: list[Annotated[str, Field(max_length=50)]] = Field(
        [], title="Tags", description="Labels kept with the run."
    )
    seed: int = Field(
        42,
        ge=0,
        le=2**31 - 1,
        title="Seed",
        description="Seeds arrivals, question choice and the simulator.",
    )
    repeats: int = Field(
        1,
        ge=1,
        le=20,
        title="Repeats",
        description="Runs of the same spec (confidence intervals need >= 2).",
    )
    warmup_s: float = Field(
        5.0,
        ge=0,
        le=3600,
        title="Warm-up (s)",
        description="Trimmed from the start of the steady state.",
    )
    drain_timeout_s: float = Field(
        300.0,
        ge=1,
        le=86_400,
        title="Drain timeout (s)",
        description="How long to wait for every question to reach a terminal state after the load "
        "ends.",
    )
    slo_s: float = Field(
        0.0,
        ge=0,
        le=86_400,
        title="Latency SLO (s)",
        description="Goodput counts accepted answers within it; 0 = none.",
    )
    dataset: DatasetSection = Field(DatasetSection(), title="Dataset")
    arrival: ArrivalSection = Field(ArrivalSection(), title="Arrival process")
    llm: LLMSection = Field(LLMSection(), title="LLM backend")
    retry: RetrySection = Field(RetrySection(), title="Retry policy")
    scoring: ScoringSection = Field(ScoringSection(), title="Scoring and regeneration")
    workers: WorkersSection = Field(WorkersSection(), title="Workers")
    slo: SloSection = Field(SloSection(), title="Service-level objectives")
    faults: list[FaultSpec] = Field(
        [],
        max_length=50,
        title="Infrastructure faults",
        description="A schedule of faults injected during the run, each {at_s, action, target, "
        "duration_s}: kill, restart or pause (duration_s) kafka, postgres, flink-taskmanager, "
        "flink-jobmanager, storage, relay, worker (optional worker: n) or events-sink; outage "
        "(duration_s, status) of the llm. at_s counts from the load's start (see "
        "docs/experiments.md).",
    )


@functools.cache
def _schema() -> dict[str, Any]:
    return {
        **form_schema(ExperimentSpec),
        "$id": "https://harness.local/schemas/experiment.schema.json",
        "title": "Experiment spec",
    }


def schema() -> dict[str, Any]:
    """The JSON schema (draft 2020-12) of an experiment spec, generated from
    :class:`ExperimentSpec`. A fresh copy on each call."""
    return copy.deepcopy(_schema())


@functools.cache
def _defaults() -> dict[str, Any]:
    return ExperimentSpec.model_validate({"name": DEFAULT_NAME}).model_dump(mode="json")


def defaults() -> dict[str, Any]:
    """A complete spec made of every default (named ``demo``)."""
    return copy.deepcopy(_defaults())


def _top_level_fields() -> frozenset[str]:
    """Fields outside the sections (``slo_s`` is one, although ``slo`` is a section)."""
    return frozenset(set(ExperimentSpec.model_fields) - set(SECTIONS))


def _split_flat(key: str) -> tuple[str, str]:
    """``retry_base_s`` -> ("retry", "base_s"); a top-level field -> ("", key)."""
    section, _, field = key.partition("_")
    if key in _top_level_fields() or section not in SECTIONS or not field:
        return "", key
    return section, field


def _is_flat(spec: Mapping[str, Any]) -> bool:
    return any(_split_flat(k)[0] for k in spec)


def validate(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Validate SPEC (nested or flat), fill the defaults, and return the complete nested spec as
    a plain JSON-able dict (Airflow passes it between tasks).

    Raises SpecError naming the first offending field by title and dotted path.
    """
    if not isinstance(spec, Mapping):
        raise SpecError("$", f"expected an object, got {type(spec).__name__}")
    nested = unflatten(spec) if _is_flat(spec) else dict(spec)
    return validate_model(ExperimentSpec, nested).model_dump(mode="json")


def arrival_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The pipeline.arrivals spec for this experiment's arrival section."""
    return _process_spec(spec["arrival"])


def retry_policy(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The retry-policy spec the records carry (pipeline.retry.spec format)."""
    return {k: v for k, v in spec["retry"].items() if k in RetryPolicySpec.model_fields}


# --- flat form view --------------------------------------------------------------------------


def flatten(spec: Mapping[str, Any]) -> dict[str, Any]:
    """{'retry': {'base_s': 1}} -> {'retry_base_s': 1}; top-level fields stay as they are."""
    flat: dict[str, Any] = {}
    for key, value in spec.items():
        if key in SECTIONS and isinstance(value, Mapping):
            for field, inner in value.items():
                flat[f"{key}_{field}"] = copy.deepcopy(inner)
        else:
            flat[key] = copy.deepcopy(value)
    return flat


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        section, field = _split_flat(key)
        if section:
            nested.setdefault(section, {})[field] = copy.deepcopy(value)
        else:
            nested[key] = copy.deepcopy(value)
    return nested


def flat_properties() -> dict[str, tuple[str | None, dict[str, Any]]]:
    """Each form field: its flat name -> (section title or None, its property schema)."""
    out: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for key, prop in schema()["properties"].items():
        if key in SECTIONS:
            for field, inner in prop["properties"].items():
                out[f"{key}_{field}"] = (prop["title"], inner)
        else:
            out[key] = (None, prop)
    return out


# --- files and overrides ---------------------------------------------------------------------


BaseFinder = Callable[[str], Mapping[str, Any]]


def load(path: str | Path, *, find_base: BaseFinder | None = None) -> dict[str, Any]:
    """Read a YAML spec file and validate it (defaults filled). A ``base`` in the file is
    resolved by FIND_BASE (default :func:`experiments.bases.find_base`) and merged under the
    file's own fields (:func:`merge_base`)."""
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict):
        raise SpecError("$", f"{path}: a spec is a mapping")
    if data.get("base"):
        return resolve_base(data, find_base=find_base)
    return validate(data)


def resolve_base(overrides: Mapping[str, Any], *,
                 find_base: BaseFinder | None = None) -> dict[str, Any]:
    """The validated spec of ``overrides["base"]`` with OVERRIDES (a nested, partial spec)
    merged over it. SpecError names ``base`` when no spec file or run has that name."""
    name = str(overrides["base"])
    validate_model(ExperimentSpec, {"name": "x", "base": name})  # the name's own pattern
    if find_base is None:
        from experiments.bases import find_base as default_finder

        find_base = default_finder
    return merge_base(validate(find_base(name)), overrides, label=name)


#: fields whose change does not make another experiment (the base's description still fits)
_LABEL_FIELDS = frozenset({"name", "description", "tags", "base"})


def changed_fields(base: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted field -> SPEC's value for every field where two complete specs differ, but for
    the labels (name, description, tags, base)."""
    flat_base, flat_spec = flatten(base), flatten(spec)
    out: dict[str, Any] = {}
    for key, value in flat_spec.items():
        section, field = _split_flat(key)
        if not section and field in _LABEL_FIELDS:
            continue
        if flat_base.get(key) != value:
            out[f"{section}.{field}" if section else field] = value
    return out


def merge_base(base: Mapping[str, Any], overrides: Mapping[str, Any], *,
               label: str) -> dict[str, Any]:
    """BASE (a complete, validated spec) with OVERRIDES (a nested, partial spec) over it,
    validated, ``base`` consumed (None).

    The base's description is kept only when no field changed; a description given in
    OVERRIDES wins; otherwise the run gets a neutral one naming the base and the changes
    (``demo with retry.base_s=0.2``), so a base's "Poisson load on the flaky simulator" is not
    carried into a run that is neither.
    """
    merged: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if key in SECTIONS and isinstance(value, Mapping):
            merged.setdefault(key, {})
            merged[key] = {**merged[key], **copy.deepcopy(dict(value))}
        else:
            merged[key] = copy.deepcopy(value)
    merged["base"] = None
    given = overrides.get("description")
    merged["description"] = base.get("description", "")
    full = validate(merged)
    changes = changed_fields(base, full)
    if given and given != base.get("description"):
        full["description"] = given
    elif changes:
        full["description"] = describe_changes(label, changes)
    return full


def describe_changes(label: str, changes: Mapping[str, Any], *, shown: int = 6) -> str:
    """``demo with retry.base_s=0.2, seed=7`` (the first SHOWN changes, then "and N more")."""
    def text(value: Any) -> str:
        out = value if isinstance(value, str) else json.dumps(value)
        return out if len(out) <= 40 else out[:37] + "..."

    parts = [f"{key}={text(value)}" for key, value in list(changes.items())[:shown]]
    more = len(changes) - shown
    return f"{label} with {', '.join(parts)}" + (f" and {more} more" if more > 0 else "")


def apply_overrides(spec: Mapping[str, Any], assignments: list[str]) -> dict[str, Any]:
    """Apply `key=value` overrides (`retry.base_s=0.5`, `retry_base_s=0.5` or `seed=7`); values are
    parsed as YAML scalars. The result is validated."""
    out = copy.deepcopy(dict(spec))
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep:
            raise SpecError(key or "$", "an override is key=value")
        value = yaml.safe_load(raw) if raw != "" else ""
        if key == "base":
            raise SpecError("base", "name the base in the spec file (its fields are laid over "
                            "the base's); --set cannot start a loaded spec from another",
                            title="Start from")
        section, dot, field = key.partition(".")
        if not dot:
            section, field = _split_flat(key)
        if section:
            if section not in SECTIONS:
                raise SpecError(key, f"unknown section {section!r}")
            out.setdefault(section, {})[field] = value
        else:
            out[field] = value
    return validate(out)
