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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_SPEC_PATH",
    "RetryTier",
    "TopicCatalog",
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


class TopicSpecError(ValueError):
    """The topic spec file is invalid; the message names the offending key."""


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


def parse_duration(value: Any, *, where: str = "duration") -> float:
    """Seconds from a number (seconds) or a string such as "500ms", "5s", "2m", "1h", "7d"."""
    if isinstance(value, bool):
        raise TopicSpecError(f"{where}: expected a duration, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    else:
        raise TopicSpecError(f"{where}: expected a duration like 30s, 5m, 7d, got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise TopicSpecError(f"{where}: must be a finite duration >= 0, got {value!r}")
    return seconds


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
        raise TopicSpecError(f"{path}: not valid YAML: {exc}") from exc
    return build_catalog(
        raw,
        prefix=settings.prefix if prefix is None else prefix,
        replication_factor=replication_factor or settings.replication_factor,
    )


def build_catalog(
    raw: Any, *, prefix: str = "", replication_factor: int | None = None
) -> TopicCatalog:
    """Build a catalog from an already parsed spec (the structure of topics.yaml)."""
    if not isinstance(raw, Mapping):
        raise TopicSpecError("spec: expected a mapping at the top level")
    if replication_factor is not None and replication_factor < 1:
        raise TopicSpecError(f"replication_factor: must be >= 1, got {replication_factor}")
    if raw.get("version") != 1:
        raise TopicSpecError(f"version: unsupported spec version {raw.get('version')!r}")
    defaults = _mapping(raw.get("defaults", {}), "defaults")
    topics = _mapping(raw.get("topics"), "topics")
    unknown = set(topics) - set(ROLES)
    if unknown:
        raise TopicSpecError(f"topics: unknown role(s) {sorted(unknown)}; expected {list(ROLES)}")
    missing = [r for r in ROLES if r not in topics]
    if missing:
        raise TopicSpecError(f"topics: missing role(s) {missing}")

    def make(role: str, base_name: str, entry: Mapping[str, Any], where: str, delay: float | None):
        merged = {**defaults, **entry}
        rf = replication_factor or _positive_int(
            merged.get("replication_factor", 1), f"{where}.replication_factor"
        )
        partitions = _positive_int(merged.get("partitions"), f"{where}.partitions")
        retention_s = parse_duration(merged.get("retention", "1d"), where=f"{where}.retention")
        cleanup = str(merged.get("cleanup_policy", "delete"))
        if cleanup not in {"delete", "compact", "compact,delete", "delete,compact"}:
            raise TopicSpecError(f"{where}.cleanup_policy: invalid value {cleanup!r}")
        config = {
            **{
                str(k): str(v)
                for k, v in _mapping(defaults.get("config", {}), "defaults.config").items()
            },
            "cleanup.policy": cleanup,
            "retention.ms": str(round(retention_s * 1000)),
            "min.insync.replicas": str(max(1, min(2, rf - 1))),
            **{
                str(k): str(v)
                for k, v in _mapping(entry.get("config", {}), f"{where}.config").items()
            },
        }
        if delay is not None and retention_s <= delay:
            raise TopicSpecError(f"{where}.retention: must exceed the tier delay ({delay:g}s)")
        name = prefix + base_name
        if not _VALID_NAME.match(name):
            raise TopicSpecError(f"{where}.name: invalid Kafka topic name {name!r}")
        key = str(merged.get("key") or "question_id")
        return TopicSpec(role, name, base_name, partitions, rf, key, config, delay)

    fixed = {}
    for role in ROLES:
        entry = _mapping(topics[role], f"topics.{role}")
        base = entry.get("name")
        if not isinstance(base, str) or not base:
            raise TopicSpecError(f"topics.{role}.name: required")
        fixed[role] = make(role, base, entry, f"topics.{role}", None)

    retry = _mapping(raw.get("retry"), "retry")
    pattern = str(retry.get("name_pattern", "qa.retry.{tier}"))
    if "{tier}" not in pattern:
        raise TopicSpecError("retry.name_pattern: must contain {tier}")
    tiers_raw = retry.get("tiers")
    if not isinstance(tiers_raw, list) or not tiers_raw:
        raise TopicSpecError("retry.tiers: at least one tier is required")
    shared = {k: v for k, v in retry.items() if k not in {"name_pattern", "tiers"}}
    tiers: list[RetryTier] = []
    for i, t in enumerate(tiers_raw):
        t = _mapping(t, f"retry.tiers[{i}]")
        where = f"retry.tiers[{i}]"
        delay = parse_duration(t.get("delay"), where=f"{where}.delay")
        if delay <= 0:
            raise TopicSpecError(f"{where}.delay: must be > 0")
        tier_name = str(t.get("tier") or f"{delay:g}s")
        entry = {**shared, **{k: v for k, v in t.items() if k not in {"tier", "delay"}}}
        spec = make("retry", pattern.format(tier=tier_name), entry, where, delay)
        tiers.append(RetryTier(tier_name, delay, spec))
    tiers.sort(key=lambda t: t.delay_s)
    for a, b in itertools.pairwise(tiers):
        if a.delay_s == b.delay_s or a.tier == b.tier:
            raise TopicSpecError(f"retry.tiers: duplicate tier {b.tier!r} ({b.delay_s:g}s)")

    catalog = TopicCatalog(retry_tiers=tuple(tiers), prefix=prefix, **fixed)
    names = catalog.names()
    if len(set(names)) != len(names):
        raise TopicSpecError(f"topics: duplicate names in {names}")
    return catalog


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TopicSpecError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TopicSpecError(f"{where}: expected an integer >= 1, got {value!r}")
    return value
