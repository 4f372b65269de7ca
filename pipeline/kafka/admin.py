"""Topic administration from the one topic spec: create what is missing, verify the rest.

``ensure_topics`` is idempotent: a second call creates nothing and reports every topic as
``exists``. Partition counts are verified (a topic with fewer partitions than the spec can be
grown with ``grow_partitions=True``; Kafka cannot shrink one) and the spec's topic configs are
compared with the broker's, differences reported (not altered: that is an operator's call).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

from pipeline.topics import TopicCatalog, TopicSpec

log = logging.getLogger(__name__)


@dataclass
class TopicReport:
    """What ``ensure_topics`` found or did for one topic."""

    topic: str
    action: str  # created | exists | grown | partitions_mismatch
    partitions: int
    expected_partitions: int
    config_diff: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    """config key -> (broker value, spec value) where they differ."""

    def line(self) -> str:
        text = f"{self.topic:40s} {self.action:20s} partitions={self.partitions}"
        if self.partitions != self.expected_partitions:
            text += f" (spec {self.expected_partitions})"
        for key, (have, want) in sorted(self.config_diff.items()):
            text += f"\n    {key}: broker={have} spec={want}"
        return text


def _partition_counts(admin: AdminClient, timeout_s: float) -> dict[str, int]:
    metadata = admin.list_topics(timeout=timeout_s)
    return {name: len(t.partitions) for name, t in metadata.topics.items() if t.error is None}


def _config_diff(
    admin: AdminClient, specs: list[TopicSpec], timeout_s: float
) -> dict[str, dict[str, tuple[str | None, str]]]:
    if not specs:
        return {}
    resources = [ConfigResource(ConfigResource.Type.TOPIC, s.name) for s in specs]
    futures = admin.describe_configs(resources, request_timeout=timeout_s)
    diffs: dict[str, dict[str, tuple[str | None, str]]] = {}
    by_name = {s.name: s for s in specs}
    for resource, future in futures.items():
        spec = by_name[resource.name]
        try:
            entries = future.result(timeout=timeout_s)
        except KafkaException as exc:
            log.warning("cannot describe configs of topic %s: %s", resource.name, exc)
            continue
        diff = {}
        for key, want in spec.config.items():
            have = entries[key].value if key in entries else None
            if have != want:
                diff[key] = (have, want)
        if diff:
            diffs[resource.name] = diff
    return diffs


def ensure_topics(
    admin: AdminClient,
    catalog: TopicCatalog | Iterable[TopicSpec],
    *,
    timeout_s: float = 30.0,
    grow_partitions: bool = False,
) -> list[TopicReport]:
    """Create the spec's missing topics; verify partitions and configs of existing ones."""
    specs = catalog.all() if isinstance(catalog, TopicCatalog) else list(catalog)
    existing = _partition_counts(admin, timeout_s)
    reports: dict[str, TopicReport] = {}
    missing = [s for s in specs if s.name not in existing]
    if missing:
        futures = admin.create_topics(
            [NewTopic(**s.new_topic_kwargs()) for s in missing], request_timeout=timeout_s
        )
        for spec in missing:
            try:
                futures[spec.name].result(timeout=timeout_s)
                action = "created"
                log.info("created topic %s (%d partitions)", spec.name, spec.partitions)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
                action = "exists"  # a concurrent creator won the race
            reports[spec.name] = TopicReport(spec.name, action, spec.partitions, spec.partitions)
        existing = _partition_counts(admin, timeout_s)

    to_grow: list[TopicSpec] = []
    for spec in specs:
        if spec.name in reports:
            continue
        have = existing.get(spec.name, 0)
        action = "exists"
        if have < spec.partitions:
            if grow_partitions:
                to_grow.append(spec)
                action = "grown"
            else:
                action = "partitions_mismatch"
                log.warning(
                    "topic %s has %d partitions, the spec says %d", spec.name, have, spec.partitions
                )
        elif have > spec.partitions:
            action = "partitions_mismatch"
            log.warning("topic %s has %d partitions, more than the spec's %d (Kafka cannot shrink)",
                        spec.name, have, spec.partitions)
        reports[spec.name] = TopicReport(spec.name, action, have, spec.partitions)
    if to_grow:
        futures = admin.create_partitions(
            [NewPartitions(s.name, s.partitions) for s in to_grow], request_timeout=timeout_s
        )
        for spec in to_grow:
            futures[spec.name].result(timeout=timeout_s)
            reports[spec.name].partitions = spec.partitions
            log.info("grew topic %s to %d partitions", spec.name, spec.partitions)

    existing_specs = [s for s in specs if reports[s.name].action != "created"]
    for name, diff in _config_diff(admin, existing_specs, timeout_s).items():
        reports[name].config_diff = diff
        log.warning("topic %s configs differ from the spec: %s", name, diff)
    return [reports[s.name] for s in specs]


def delete_topics(admin: AdminClient, names: Iterable[str], *, timeout_s: float = 30.0) -> None:
    """Delete topics (tests clean up with this); missing topics are ignored."""
    names = list(names)
    if not names:
        return
    for name, future in admin.delete_topics(names, request_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
            log.debug("topic %s was already gone", name)


def list_topics(admin: AdminClient, *, prefix: str = "", timeout_s: float = 10.0) -> dict[str, int]:
    """Topic name -> partition count, for names starting with ``prefix`` (internal ones hidden)."""
    return {
        name: count
        for name, count in sorted(_partition_counts(admin, timeout_s).items())
        if name.startswith(prefix) and not name.startswith("__")
    }
