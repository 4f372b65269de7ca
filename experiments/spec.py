"""The experiment spec: one pydantic model for the YAML files in experiments/specs/, the Airflow
trigger form (its JSON schema, see experiments.params), and `harness trigger --set`.

A spec has a few top-level fields and six sections, each a flat model so that every field is one
field of the trigger form:

    name, description, tags, seed, repeats, warmup_s, drain_timeout_s, slo_s
    dataset:  source, path, size, offset, repeat_share
    arrival:  kind, rate, duration_s, cv, on_s, off_s, rate_from, rate_to, ramp_s, steps, trace_path
    llm:      backend, base_url, model, profile, max_tokens, timeout_s, stop_after_quota_errors
    retry:    the retry policy (pipeline.retry.spec: kind, jitter, base_s, multiplier, cap_s, ...)
              plus max_deferrals
    scoring:  threshold, max_rounds, scorer
    workers:  count, concurrency

The sections reuse the pipeline's own models instead of restating their bounds: the retry section
is :class:`pipeline.retry.spec.RetryPolicySpec` plus one field, and the arrival fields take their
types (bounds included) from :mod:`pipeline.arrivals`, whose process for the chosen kind also
checks the section. So the form, the YAML files and the run accept the same values.

The form flattens sections as ``<section>_<field>`` (``retry_base_s``); :func:`flatten` and
:func:`unflatten` convert, and :func:`validate` checks either shape against the one model,
raising :class:`SpecError` that names the field by title and path
(``Rate (questions/s) (arrival.rate): must be > 0, got 0``).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, model_validator

from experiments.faults import FaultSpec
from pipeline.arrivals import ARRIVALS, Burstiness, Period, Rate, RateOrZero, build_arrival
from pipeline.llm.sim.profiles import NAMED_PROFILES
from pipeline.retry.spec import RetryPolicySpec
from pipeline.spec_model import SpecError, SpecModel, form_schema, one_of, rule, validate_model

__all__ = [
    "ARRIVAL_KINDS",
    "SCORERS",
    "SECTIONS",
    "SPECS_DIR",
    "ExperimentSpec",
    "SpecError",
    "apply_overrides",
    "arrival_spec",
    "defaults",
    "flat_properties",
    "flatten",
    "load",
    "retry_policy",
    "schema",
    "unflatten",
    "validate",
]

SPECS_DIR = Path(__file__).parent / "specs"
SECTIONS = ("dataset", "arrival", "llm", "retry", "scoring", "workers")
ARRIVAL_KINDS: tuple[str, ...] = tuple(ARRIVALS)
SCORERS = ("lexical", "minilm")
DEFAULT_NAME = "demo"
STEPS_PATTERN = r"^\s*\d+(\.\d+)?\s*:\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?\s*:\s*\d+(\.\d+)?)*\s*$"

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
        description="The simulator's fault profile for this run: "
        + "; ".join(f"{k}: {v.get('description', '')}" for k, v in NAMED_PROFILES.items()),
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


class ExperimentSpec(SpecModel):
    """An experiment: the load, the LLM, the retry policy, scoring and workers."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$",
        title="Run name",
        description="Runs of the same name are compared with each other.",
        json_schema_extra={"default": DEFAULT_NAME},  # required in a spec; the form's default
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


def _is_flat(spec: Mapping[str, Any]) -> bool:
    return any("_" in k and k.split("_", 1)[0] in SECTIONS for k in spec)


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
        section, _, field = key.partition("_")
        if section in SECTIONS and field:
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


def load(path: str | Path) -> dict[str, Any]:
    """Read a YAML spec file and validate it (defaults filled)."""
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict):
        raise SpecError("$", f"{path}: a spec is a mapping")
    return validate(data)


def apply_overrides(spec: Mapping[str, Any], assignments: list[str]) -> dict[str, Any]:
    """Apply `key=value` overrides (`retry.base_s=0.5`, `retry_base_s=0.5` or `seed=7`); values are
    parsed as YAML scalars. The result is validated."""
    out = copy.deepcopy(dict(spec))
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep:
            raise SpecError(key or "$", "an override is key=value")
        value = yaml.safe_load(raw) if raw != "" else ""
        section, dot, field = key.partition(".")
        if not dot:
            section, _, field = key.partition("_")
            if section not in SECTIONS:
                section, field = "", key
        if section:
            if section not in SECTIONS:
                raise SpecError(key, f"unknown section {section!r}")
            out.setdefault(section, {})[field] = value
        else:
            out[field] = value
    return validate(out)
