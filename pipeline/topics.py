"""The one topic spec (docs/architecture.md#topics): names, partitions, replication, retention, retry tiers.

Everything that names a Kafka topic goes through :func:`load_topics`::

    topics = load_topics()                       # pipeline/topics.yaml + HARNESS_TOPIC_* settings
    topics.questions.name                        # "qa.questions" (or "<prefix>qa.questions")
    for spec in topics.all():                    # provisioning
        admin.create_topics([NewTopic(**spec.new_topic_kwargs())])
    tier = topics.tier_for(delay_s=12.0)         # -> the 30s tier
    producer.produce(tier.topic.name, ...)

This module has no Kafka dependency: :meth:`TopicSpec.new_topic_kwargs` returns the keyword
arguments of ``confluent_kafka.admin.NewTopic`` (and ``config`` is also what the Airflow Kafka
provider's ``create_topic`` takes).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.spec_model import SpecError, SpecModel, field_error, validate_model

__all__ = [
    "DEFAULT_SPEC_PATH",
    "RetryTier",
    "TopicCatalog",
    "TopicFile",
    "TopicSettings",
    "TopicSpec",
    "TopicSpecError",
    "load_topics",
    "parse_duration",
]

DEFAULT_SPEC_PATH = Path(__file__).with_name("topics.yaml")

# Roles of the fixed topics, in provisioning order (retry tiers come after them).
ROLES = ("questions", "answers", "results", "dlq", "events")
_VALID_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class TopicSettings(BaseSettings):
    """Environment overrides for the topic spec (env prefix ``HARNESS_TOPIC_``)."""

    model_config = SettingsConfigDict(env_prefix="HARNESS_TOPIC_", extra="ignore")

    prefix: str = Field(
        default="", description="prepended to every topic name, e.g. 't1234.' in tests"
    )
    replication_factor: int | None = Field(
        default=None, ge=1, description="overrides the spec's replication factor for every topic"
    )
    spec_path: Path | None = Field(
        default=None, description="a topic spec YAML other than the built-in one"
    )


@dataclass(frozen=True)
class TopicSpec:
    """One Kafka topic, ready for an AdminClient.

    ``name`` includes the prefix; ``base_name`` does not. ``config`` holds Kafka topic configs as
    strings (``retention.ms``, ``cleanup.policy``, ``min.insync.replicas``, ...). ``key`` names the
    envelope field used as the record key. ``delay_s`` is set for retry tiers only.
    """

    role: str
    name: str
    base_name: str
    partitions: int
    replication_factor: int
    key: str
    config: dict[str, str] = field(default_factory=dict)
    delay_s: float | None = None

    def new_topic_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``confluent_kafka.admin.NewTopic``."""
        return {
            "topic": self.name,
            "num_partitions": self.partitions,
            "replication_factor": self.replication_factor,
            "config": dict(self.config),
        }


@dataclass(frozen=True)
class RetryTier:
    """A deferred-retry topic and the delay it stands for."""

    tier: str
    delay_s: float
    topic: TopicSpec


@dataclass(frozen=True)
class TopicCatalog:
    """All topics of the pipeline. Retry tiers are sorted by ascending delay."""

    questions: TopicSpec
    answers: TopicSpec
    results: TopicSpec
    dlq: TopicSpec
    events: TopicSpec
    retry_tiers: tuple[RetryTier, ...]
    prefix: str = ""

    def all(self) -> list[TopicSpec]:
        """Every topic, fixed ones first, then the retry tiers by delay."""
        return [getattr(self, role) for role in ROLES] + [t.topic for t in self.retry_tiers]

    def names(self) -> list[str]:
        return [t.name for t in self.all()]

    def retry_topic_names(self) -> list[str]:
        """Names of the retry tier topics (what the retry relay subscribes to)."""
        return [t.topic.name for t in self.retry_tiers]

    def by_name(self, name: str) -> TopicSpec:
        """The topic with this full (prefixed) name; KeyError if none."""
        for spec in self.all():
            if spec.name == name:
                return spec
        raise KeyError(name)

    def tier(self, tier: str) -> RetryTier:
        """The retry tier called ``tier`` (e.g. "30s"); KeyError if none."""
        for t in self.retry_tiers:
            if t.tier == tier:
                return t
        raise KeyError(tier)

    def tier_for(self, delay_s: float) -> RetryTier:
        """The smallest tier whose delay is >= ``delay_s``, else the largest tier.

        A record parked in a tier is released at its own ``due_at``, so choosing the largest tier
        for a longer wait is correct, just coarser.
        """
        for t in self.retry_tiers:
            if t.delay_s >= delay_s:
                return t
        return self.retry_tiers[-1]


# The one spec error; the name stays for the callers that catch it.
TopicSpecError = SpecError


def _seconds(value: Any) -> float:
    """Seconds from a number or a string with a unit; ValueError with the reason otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    else:
        raise ValueError(f"expected a duration like 30s, 5m, 7d, got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"must be a finite duration >= 0, got {value!r}")
    return seconds


# A duration in the YAML: a number of seconds or "500ms", "30s", "5m", "1h", "7d".
Duration = Annotated[float, BeforeValidator(_seconds)]
CleanupPolicy = Literal["delete", "compact", "compact,delete", "delete,compact"]
ConfigValue = str | int | float | bool


class TopicOptions(SpecModel):
    """Settings a topic takes from ``defaults``, the ``retry`` section and its own entry; the
    most specific one given wins (``config`` maps are not merged with each other, but the
    ``defaults`` one is applied under every topic's)."""

    replication_factor: int | None = Field(None, ge=1, title="Replication factor")
    partitions: int | None = Field(None, ge=1, title="Partitions")
    retention: Duration | None = Field(
        None, title="Retention", description="a number of seconds, or 500ms, 30s, 5m, 1h, 7d"
    )
    cleanup_policy: CleanupPolicy | None = Field(None, title="Cleanup policy")
    key: str | None = Field(
        None, min_length=1, title="Record key", description="the envelope field keying records"
    )
    config: dict[str, ConfigValue] | None = Field(None, title="Kafka topic configs")


class TopicEntry(TopicOptions):
    """One fixed topic."""

    name: str = Field(pattern=_VALID_NAME.pattern, title="Topic name")


class FixedTopics(SpecModel):
    """The fixed topics by role; every role is required."""

    questions: TopicEntry = Field(title="Questions topic")
    answers: TopicEntry = Field(title="Answers topic")
    results: TopicEntry = Field(title="Results topic")
    dlq: TopicEntry = Field(title="Dead-letter topic")
    events: TopicEntry = Field(title="Events topic")


class TierEntry(TopicOptions):
    """One retry tier: a topic whose records wait about ``delay``."""

    tier: str | None = Field(
        None, min_length=1, title="Tier name", description="defaults to the delay, e.g. 30s"
    )
    delay: Annotated[Duration, Field(gt=0)] = Field(title="Tier delay")


class RetryTopics(TopicOptions):
    """The retry tiers; the options here apply to every tier unless the tier sets its own."""

    name_pattern: str = Field("qa.retry.{tier}", title="Tier topic name pattern")
    tiers: list[TierEntry] = Field(min_length=1, title="Retry tiers")

    @field_validator("name_pattern")
    @classmethod
    def _names_the_tier(cls, value: str) -> str:
        if "{tier}" not in value:
            raise ValueError(f"must contain {{tier}}, got {value!r}")
        return value


class TopicFile(SpecModel):
    """The structure of topics.yaml."""

    version: Literal[1] = Field(title="Spec version")
    defaults: TopicOptions = Field(TopicOptions(), title="Defaults")
    topics: FixedTopics = Field(title="Topics")
    retry: RetryTopics = Field(title="Retry topics")


def parse_duration(value: Any, *, where: str = "duration") -> float:
    """Seconds from a number (seconds) or a string such as "500ms", "5s", "2m", "1h", "7d"."""
    try:
        return _seconds(value)
    except ValueError as exc:
        raise TopicSpecError(where, str(exc)) from None


def load_topics(
    path: str | Path | None = None,
    *,
    prefix: str | None = None,
    replication_factor: int | None = None,
    settings: TopicSettings | None = None,
) -> TopicCatalog:
    """Load the topic spec.

    Explicit arguments win over ``settings`` (by default read from ``HARNESS_TOPIC_*``), which win
    over the YAML file.
    """
    settings = settings if settings is not None else TopicSettings()
    path = Path(path or settings.spec_path or DEFAULT_SPEC_PATH)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TopicSpecError("$", f"{path}: not valid YAML: {exc}") from exc
    return build_catalog(
        raw,
        prefix=settings.prefix if prefix is None else prefix,
        replication_factor=replication_factor or settings.replication_factor,
    )


def _layered(name: str, *layers: TopicOptions) -> Any:
    """The most specific value of option ``name`` given (None when no layer gives it)."""
    for layer in reversed(layers):
        value = getattr(layer, name)
        if value is not None:
            return value
    return None


def build_catalog(
    raw: Any, *, prefix: str = "", replication_factor: int | None = None
) -> TopicCatalog:
    """Build a catalog from an already parsed spec (the structure of topics.yaml)."""
    if replication_factor is not None and replication_factor < 1:
        raise TopicSpecError("replication_factor", f"must be >= 1, got {replication_factor}")
    spec = validate_model(TopicFile, raw)

    def make(
        role: str, base_name: str, layers: tuple[TopicOptions, ...], where: str,
        delay: float | None,
    ) -> TopicSpec:
        rf = replication_factor or _layered("replication_factor", *layers) or 1
        partitions = _layered("partitions", *layers)
        if partitions is None:
            raise field_error(TopicFile, f"{where}.partitions", "required (here or in defaults)")
        retention_s = _layered("retention", *layers)
        retention_s = 86400.0 if retention_s is None else retention_s
        if delay is not None and retention_s <= delay:
            raise field_error(
                TopicFile, f"{where}.retention", f"must exceed the tier delay ({delay:g}s)"
            )
        own_config = _layered("config", *layers[1:]) or {}
        config = {
            **{k: str(v) for k, v in (spec.defaults.config or {}).items()},
            "cleanup.policy": _layered("cleanup_policy", *layers) or "delete",
            "retention.ms": str(round(retention_s * 1000)),
            "min.insync.replicas": str(max(1, min(2, rf - 1))),
            **{k: str(v) for k, v in own_config.items()},
        }
        name = prefix + base_name
        if not _VALID_NAME.match(name):
            raise field_error(TopicFile, f"{where}.name", f"invalid Kafka topic name {name!r}")
        key = _layered("key", *layers) or "question_id"
        return TopicSpec(role, name, base_name, partitions, rf, key, config, delay)

    fixed = {
        role: make(
            role, entry.name, (spec.defaults, entry), f"topics.{role}", None
        )
        for role in ROLES
        for entry in [getattr(spec.topics, role)]
    }
    tiers: list[RetryTier] = []
    for i, t in enumerate(spec.retry.tiers):
        tier_name = t.tier or f"{t.delay:g}s"
        topic = make(
            "retry", spec.retry.name_pattern.format(tier=tier_name),
            (spec.defaults, spec.retry, t), f"retry.tiers.{i}", t.delay,
        )
        tiers.append(RetryTier(tier_name, t.delay, topic))
    tiers.sort(key=lambda t: t.delay_s)
    for a, b in itertools.pairwise(tiers):
        if a.delay_s == b.delay_s or a.tier == b.tier:
            raise field_error(
                TopicFile, "retry.tiers", f"duplicate tier {b.tier!r} ({b.delay_s:g}s)"
            )

    catalog = TopicCatalog(retry_tiers=tuple(tiers), prefix=prefix, **fixed)
    names = catalog.names()
    if len(set(names)) != len(names):
        raise field_error(TopicFile, "topics", f"duplicate names in {names}")
    return catalog
