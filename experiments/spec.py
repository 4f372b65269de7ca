"""The experiment spec: one JSON schema for the YAML files in experiments/specs/, the Airflow
trigger form, and `harness trigger --set`.

A spec has a few top-level fields and six sections, each a flat object so that every property is
one field of the trigger form:

    name, description, tags, seed, repeats, warmup_s, drain_timeout_s, slo_s
    dataset:  source, path, size, offset, repeat_share
    arrival:  kind, rate, duration_s, cv, on_s, off_s, rate_from, rate_to, ramp_s, steps, trace_path
    llm:      backend, base_url, model, profile, max_tokens, timeout_s, stop_after_quota_errors
    retry:    the retry policy (pipeline.retry.spec: kind, jitter, base_s, multiplier, cap_s, ...)
              plus max_deferrals
    scoring:  threshold, max_rounds, scorer
    workers:  count, concurrency

The form flattens sections as ``<section>_<field>`` (``retry_base_s``); :func:`flatten` and
:func:`unflatten` convert, and :func:`validate` checks either shape against the one schema,
raising :class:`SpecError` with the offending field's name.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from pipeline.arrivals import ArrivalSpecError, build_arrival
from pipeline.llm.sim.profiles import NAMED_PROFILES
from pipeline.retry.spec import PolicySpecError, policy_schema, validate_spec

SPECS_DIR = Path(__file__).parent / "specs"
SECTIONS = ("dataset", "arrival", "llm", "retry", "scoring", "workers")
ARRIVAL_KINDS = ("constant", "poisson", "gamma", "onoff", "ramp", "step", "trace")
SCORERS = ("lexical", "minilm")


class SpecError(ValueError):
    """An invalid experiment spec; ``field`` names the offending field (``retry.base_s``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"experiment spec: field {field!r}: {message}")
        self.field = field
        self.message = message


def _p(
    type_: str | list[str], title: str, description: str, default: Any, **extra: Any
) -> dict[str, Any]:
    return {"type": type_, "title": title, "description": description, "default": default, **extra}


def _retry_section() -> dict[str, Any]:
    schema = policy_schema()
    props = copy.deepcopy(schema["properties"])
    props["max_deferrals"] = _p(
        "integer",
        "Max deferrals",
        "Hand-offs to a retry tier topic (rate limits, quota) per round before the question is "
        "dead-lettered.",
        5,
        minimum=0,
        maximum=100,
    )
    return {
        "type": "object",
        "title": "Retry policy",
        "additionalProperties": False,
        "properties": props,
        "default": {},
    }


def schema() -> dict[str, Any]:
    """The JSON schema (draft 2020-12) of an experiment spec. A fresh copy on each call."""
    sections: dict[str, dict[str, Any]] = {
        "dataset": {
            "title": "Dataset",
            "properties": {
                "source": _p(
                    "string",
                    "Dataset source",
                    "synthetic: the deterministic synthetic corpus; yahoo_csv: the 4-column "
                    "Yahoo! Answers CSV; hf: the Hugging Face yahoo_answers_topics layout.",
                    "synthetic",
                    enum=["synthetic", "yahoo_csv", "hf"],
                ),
                "path": _p(
                    "string", "Dataset file", "File for yahoo_csv / hf (ignored for synthetic).", ""
                ),
                "size": _p(
                    "integer",
                    "Question pool size",
                    "Questions taken from the dataset.",
                    200,
                    minimum=1,
                    maximum=1_000_000,
                ),
                "offset": _p(
                    "integer",
                    "Offset",
                    "Rows skipped before the pool starts.",
                    0,
                    minimum=0,
                    maximum=10_000_000,
                ),
                "repeat_share": _p(
                    "number",
                    "Repeat share",
                    "Share of sends that ask a question asked before (cache hits once answered).",
                    0.0,
                    minimum=0,
                    maximum=1,
                ),
            },
        },
        "arrival": {
            "title": "Arrival process",
            "properties": {
                "kind": _p(
                    "string",
                    "Arrival process",
                    "constant, poisson, gamma (bursty, cv), onoff, ramp, step or trace replay.",
                    "poisson",
                    enum=list(ARRIVAL_KINDS),
                ),
                "rate": _p(
                    "number",
                    "Rate (questions/s)",
                    "Mean arrival rate (constant, poisson, gamma, onoff while on).",
                    5.0,
                    exclusiveMinimum=0,
                    maximum=10_000,
                ),
                "duration_s": _p(
                    "number",
                    "Duration (s)",
                    "How long the load is generated.",
                    60.0,
                    exclusiveMinimum=0,
                    maximum=86_400,
                ),
                "cv": _p(
                    "number",
                    "Burstiness (cv)",
                    "gamma: coefficient of variation of the gaps (1 = Poisson; higher = burstier).",
                    2.0,
                    exclusiveMinimum=0,
                    maximum=100,
                ),
                "on_s": _p(
                    "number",
                    "On time (s)",
                    "onoff: length of a burst.",
                    5.0,
                    exclusiveMinimum=0,
                    maximum=86_400,
                ),
                "off_s": _p(
                    "number",
                    "Off time (s)",
                    "onoff: silence between bursts.",
                    5.0,
                    minimum=0,
                    maximum=86_400,
                ),
                "rate_from": _p(
                    "number",
                    "Ramp start rate",
                    "ramp: rate at t=0.",
                    1.0,
                    minimum=0,
                    maximum=10_000,
                ),
                "rate_to": _p(
                    "number",
                    "Ramp end rate",
                    "ramp: rate at the end of the ramp.",
                    10.0,
                    minimum=0,
                    maximum=10_000,
                ),
                "ramp_s": _p(
                    "number",
                    "Ramp time (s)",
                    "ramp: seconds from rate_from to rate_to.",
                    60.0,
                    exclusiveMinimum=0,
                    maximum=86_400,
                ),
                "steps": _p(
                    "string",
                    "Steps",
                    "step: 't:rate' pairs, e.g. '0:2, 30:8, 60:4'.",
                    "0:2, 30:8",
                    pattern=r"^\s*\d+(\.\d+)?\s*:\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?\s*:\s*\d+(\.\d+)?)*\s*$",
                ),
                "trace_path": _p(
                    "string", "Trace file", "trace: a file of send offsets (seconds).", ""
                ),
            },
        },
        "llm": {
            "title": "LLM backend",
            "properties": {
                "backend": _p(
                    "string",
                    "Backend",
                    "simulator: the built-in simulator (fault profiles); "
                    "openai: any OpenAI-compatible endpoint at base_url (its API key comes from "
                    "HARNESS_LLM_API_KEY, never from the spec).",
                    "simulator",
                    enum=["simulator", "openai"],
                ),
                "base_url": _p(
                    "string", "Base URL", "OpenAI-compatible base URL (backend openai).", ""
                ),
                "model": _p("string", "Model", "Model name sent with every request.", "sim-gpt"),
                "profile": _p(
                    "string",
                    "Fault profile",
                    "The simulator's fault profile for this run: "
                    + "; ".join(
                        f"{k}: {v.get('description', '')}" for k, v in NAMED_PROFILES.items()
                    ),
                    "flaky",
                    enum=list(NAMED_PROFILES),
                ),
                "max_tokens": _p(
                    "integer",
                    "Max tokens",
                    "max_tokens per completion.",
                    256,
                    minimum=1,
                    maximum=32_768,
                ),
                "timeout_s": _p(
                    "number",
                    "Attempt timeout (s)",
                    "Deadline of one LLM attempt.",
                    30.0,
                    exclusiveMinimum=0,
                    maximum=600,
                ),
                "stop_after_quota_errors": _p(
                    "integer",
                    "Stop after quota errors",
                    "Stop sending new questions once the workers have recorded this many "
                    "quota-exhausted (429 insufficient_quota) LLM attempts for the run; what was "
                    "sent still finishes. 0 = never stop early.",
                    0,
                    minimum=0,
                    maximum=1_000_000,
                ),
            },
        },
        "retry": _retry_section(),
        "scoring": {
            "title": "Scoring and regeneration",
            "properties": {
                "threshold": _p(
                    "number",
                    "Score threshold",
                    "Answers scoring below it are regenerated while rounds are left.",
                    0.3,
                    minimum=-1,
                    maximum=1,
                ),
                "max_rounds": _p(
                    "integer",
                    "Max regeneration rounds",
                    "Regenerations allowed after the first answer (0 = never regenerate).",
                    2,
                    minimum=0,
                    maximum=20,
                ),
                "scorer": _p(
                    "string",
                    "Scorer",
                    "lexical: fast token cosine; minilm: the seed's metric, "
                    "all-MiniLM-L6-v2 embedding cosine.",
                    "lexical",
                    enum=list(SCORERS),
                ),
            },
        },
        "workers": {
            "title": "Workers",
            "properties": {
                "count": _p(
                    "integer",
                    "Worker processes",
                    "LLM worker processes in the consumer group.",
                    1,
                    minimum=1,
                    maximum=6,
                ),
                "concurrency": _p(
                    "integer",
                    "Requests in flight per worker",
                    "Bound on concurrent LLM calls per worker.",
                    64,
                    minimum=1,
                    maximum=2000,
                ),
            },
        },
    }
    properties: dict[str, Any] = {
        "name": _p(
            "string",
            "Run name",
            "Runs of the same name are compared with each other.",
            "demo",
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$",
        ),
        "description": _p("string", "Description", "Free text kept with the run.", ""),
        "tags": {
            "type": "array",
            "title": "Tags",
            "description": "Labels kept with the run.",
            "items": {"type": "string", "maxLength": 50},
            "default": [],
        },
        "seed": _p(
            "integer",
            "Seed",
            "Seeds arrivals, question choice and the simulator.",
            42,
            minimum=0,
            maximum=2**31 - 1,
        ),
        "repeats": _p(
            "integer",
            "Repeats",
            "Runs of the same spec (confidence intervals need >= 2).",
            1,
            minimum=1,
            maximum=20,
        ),
        "warmup_s": _p(
            "number",
            "Warm-up (s)",
            "Trimmed from the start of the steady state.",
            5.0,
            minimum=0,
            maximum=3600,
        ),
        "drain_timeout_s": _p(
            "number",
            "Drain timeout (s)",
            "How long to wait for every question to reach a terminal state after the load ends.",
            300.0,
            minimum=1,
            maximum=86_400,
        ),
        "slo_s": _p(
            "number",
            "Latency SLO (s)",
            "Goodput counts accepted answers within it; 0 = none.",
            0.0,
            minimum=0,
            maximum=86_400,
        ),
    }
    for name, section in sections.items():
        section.setdefault("type", "object")
        section.setdefault("additionalProperties", False)
        section.setdefault("default", {})
        properties[name] = section
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://harness.local/schemas/experiment.schema.json",
        "title": "Experiment spec",
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": properties,
    }


def defaults() -> dict[str, Any]:
    """A complete spec made of every default."""
    out: dict[str, Any] = {}
    for key, prop in schema()["properties"].items():
        if prop.get("type") == "object":
            out[key] = {k: copy.deepcopy(v.get("default")) for k, v in prop["properties"].items()}
        else:
            out[key] = copy.deepcopy(prop.get("default"))
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key].update(copy.deepcopy(dict(value)))
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _field_of(error: jsonschema.ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties":
        extra = re.findall(r"'([^']+)'", error.message)
        path.append(extra[0] if extra else "?")
    elif error.validator == "required":
        missing = re.findall(r"'([^']+)'", error.message)
        path.append(missing[0] if missing else "?")
    return ".".join(path) or "$"


def validate(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Validate SPEC (nested or flat), fill the defaults, and return the complete nested spec.

    Raises SpecError naming the first offending field.
    """
    nested = (
        unflatten(spec)
        if any("_" in k and k.split("_", 1)[0] in SECTIONS for k in spec)
        else dict(spec)
    )
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(nested), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        raise SpecError(_field_of(error), error.message)
    full = _merge(defaults(), nested)
    try:
        validate_spec({k: v for k, v in full["retry"].items() if k != "max_deferrals"})
    except PolicySpecError as exc:
        raise SpecError(f"retry.{exc.field}", str(exc)) from exc
    try:
        build_arrival(arrival_spec(full), seed=full["seed"])
    except ArrivalSpecError as exc:
        raise SpecError(f"arrival.{getattr(exc, 'field', 'kind')}", str(exc)) from exc
    if full["dataset"]["source"] != "synthetic" and not full["dataset"]["path"]:
        raise SpecError("dataset.path", f"required for source {full['dataset']['source']!r}")
    if full["llm"]["backend"] == "openai" and not full["llm"]["base_url"]:
        raise SpecError("llm.base_url", "required for backend 'openai'")
    return full


def arrival_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The pipeline.arrivals spec for this experiment's arrival section."""
    a = spec["arrival"]
    kind = a["kind"]
    if kind in ("constant", "poisson"):
        return {"kind": kind, "rate": a["rate"]}
    if kind == "gamma":
        return {"kind": kind, "rate": a["rate"], "cv": a["cv"]}
    if kind == "onoff":
        return {"kind": kind, "rate": a["rate"], "on_s": a["on_s"], "off_s": a["off_s"]}
    if kind == "ramp":
        return {
            "kind": kind,
            "rate_from": a["rate_from"],
            "rate_to": a["rate_to"],
            "ramp_s": a["ramp_s"],
        }
    if kind == "step":
        steps = [
            [float(x) for x in pair.split(":")] for pair in a["steps"].split(",") if pair.strip()
        ]
        return {"kind": kind, "steps": steps}
    return {"kind": "trace", "path": a["trace_path"]}


def retry_policy(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The retry-policy spec the records carry (pipeline.retry.spec format)."""
    return {k: v for k, v in spec["retry"].items() if k != "max_deferrals"}


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
