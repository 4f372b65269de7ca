"""The topic spec: the built-in YAML, overrides, tier choice and validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.topics import (
    DEFAULT_SPEC_PATH,
    TopicSettings,
    TopicSpecError,
    build_catalog,
    load_topics,
    parse_duration,
)


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(DEFAULT_SPEC_PATH.read_text())


def test_builtin_spec_names_every_topic() -> None:
    topics = load_topics(settings=TopicSettings(prefix=""))
    assert topics.names() == [
        "qa.questions",
        "qa.answers",
        "qa.results",
        "qa.dlq",
        "qa.events",
        "qa.retry.5s",
        "qa.retry.30s",
        "qa.retry.120s",
    ]
    assert topics.questions.partitions == 6 and topics.answers.partitions == 6
    assert topics.results.partitions == 3 and topics.events.partitions == 3
    assert topics.events.key == "experiment_id" and topics.dlq.key == "question_id"
    assert [t.delay_s for t in topics.retry_tiers] == [5.0, 30.0, 120.0]
    assert topics.retry_topic_names() == ["qa.retry.5s", "qa.retry.30s", "qa.retry.120s"]


def test_config_is_strings_ready_for_admin_client() -> None:
    topics = load_topics(settings=TopicSettings())
    for spec in topics.all():
        assert spec.replication_factor == 1
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in spec.config.items())
        assert spec.config["cleanup.policy"] == "delete"
        assert spec.config["min.insync.replicas"] == "1"
    assert topics.dlq.config["retention.ms"] == str(14 * 86400 * 1000)
    kwargs = topics.questions.new_topic_kwargs()
    assert kwargs == {
        "topic": "qa.questions",
        "num_partitions": 6,
        "replication_factor": 1,
        "config": topics.questions.config,
    }
    kwargs["config"]["x"] = "y"  # a copy: mutating it leaves the spec alone
    assert "x" not in topics.questions.config


def test_prefix_and_replication_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_TOPIC_PREFIX", "t42.")
    monkeypatch.setenv("HARNESS_TOPIC_REPLICATION_FACTOR", "3")
    topics = load_topics()
    assert topics.questions.name == "t42.qa.questions"
    assert topics.questions.base_name == "qa.questions"
    assert topics.tier("30s").topic.name == "t42.qa.retry.30s"
    assert topics.by_name("t42.qa.dlq").role == "dlq"
    assert {s.replication_factor for s in topics.all()} == {3}
    assert topics.questions.config["min.insync.replicas"] == "2"


def test_explicit_arguments_win_over_settings() -> None:
    topics = load_topics(prefix="x-", replication_factor=2, settings=TopicSettings(prefix="y-"))
    assert topics.answers.name == "x-qa.answers"
    assert topics.answers.replication_factor == 2


@pytest.mark.parametrize(
    ("delay", "tier"),
    [
        (0, "5s"),
        (0.1, "5s"),
        (5, "5s"),
        (5.01, "30s"),
        (30, "30s"),
        (31, "120s"),
        (120, "120s"),
        (9999, "120s"),
    ],
)
def test_tier_for_picks_smallest_covering_else_largest(delay: float, tier: str) -> None:
    assert load_topics(settings=TopicSettings()).tier_for(delay).tier == tier


def test_custom_tiers_are_sorted_and_named(raw: dict) -> None:
    raw["retry"]["tiers"] = [{"delay": "2m"}, {"delay": 1}, {"tier": "fast", "delay": "500ms"}]
    topics = build_catalog(raw)
    assert [(t.tier, t.delay_s) for t in topics.retry_tiers] == [
        ("fast", 0.5),
        ("1s", 1.0),
        ("120s", 120.0),
    ]
    assert topics.retry_tiers[0].topic.name == "qa.retry.fast"
    assert topics.tier_for(0.7).tier == "1s"


def test_load_from_file(tmp_path: Path, raw: dict) -> None:
    raw["topics"]["questions"]["partitions"] = 2
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert load_topics(path, settings=TopicSettings()).questions.partitions == 2
    assert load_topics(settings=TopicSettings(spec_path=path)).questions.partitions == 2


@pytest.mark.parametrize(
    ("mutate", "field", "fragment"),
    [
        (lambda r: r["topics"]["answers"].update(partitions=0), "topics.answers.partitions",
         "must be >= 1"),
        (lambda r: r["topics"]["answers"].update(retention="soon"), "topics.answers.retention",
         "expected a duration"),
        (lambda r: r["topics"].pop("dlq"), "topics.dlq", "required"),
        (lambda r: r["topics"].update(extra={"name": "x"}), "topics.extra", "not a field"),
        (lambda r: r["topics"]["events"].update(name="bad name!"), "topics.events.name",
         "must match"),
        (lambda r: r["topics"]["events"].update(cleanup_policy="keep"),
         "topics.events.cleanup_policy", "must be one of"),
        (lambda r: r["topics"]["events"].update(partitions="3"), "topics.events.partitions",
         "must be an integer"),
        (lambda r: r["retry"].update(tiers=[]), "retry.tiers", "at least 1"),
        (lambda r: r["retry"].update(tiers=[{"delay": 5}, {"delay": "5s"}]), "retry.tiers",
         "duplicate tier"),
        (lambda r: r["retry"].update(tiers=[{"delay": 0}]), "retry.tiers.0.delay", "must be > 0"),
        (lambda r: r["retry"].update(retention="60s"), "retry.tiers.2.retention",
         "must exceed the tier delay"),
        (lambda r: r["retry"].update(name_pattern="qa.retry"), "retry.name_pattern",
         "must contain {tier}"),
        (lambda r: r.update(version=2), "version", "must be one of 1"),
        (lambda r: r["defaults"].pop("partitions") and r["topics"]["dlq"].pop("partitions"),
         "topics.dlq.partitions", "required"),
    ],
)
def test_invalid_specs_name_the_key(raw: dict, mutate, field: str, fragment: str) -> None:
    mutate(raw)
    with pytest.raises(TopicSpecError) as info:
        build_catalog(raw)
    assert info.value.field == field
    assert fragment in info.value.message
    named = f"{info.value.title} ({field})" if info.value.title else field
    assert str(info.value) == f"{named}: {info.value.message}"


def test_errors_are_named_by_title_and_path(raw: dict) -> None:
    raw["retry"]["tiers"][1]["delay"] = "soon"
    with pytest.raises(TopicSpecError) as info:
        build_catalog(raw)
    assert str(info.value) == (
        "Tier delay (retry.tiers.1.delay): expected a duration like 30s, 5m, 7d, got 'soon'")
    assert isinstance(info.value, ValueError)


def test_not_a_mapping_is_refused() -> None:
    with pytest.raises(TopicSpecError) as info:
        build_catalog(["topics"])
    assert info.value.field == "$"


def test_duplicate_names_rejected(raw: dict) -> None:
    raw["topics"]["answers"]["name"] = "qa.questions"
    with pytest.raises(TopicSpecError, match="duplicate names"):
        build_catalog(raw)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (5, 5.0),
        (2.5, 2.5),
        ("250ms", 0.25),
        ("30s", 30.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("7d", 604800.0),
        ("12", 12.0),
    ],
)
def test_parse_duration(value, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", [True, None, "5 weeks", -1, float("inf"), "1.2.3s"])
def test_parse_duration_rejects(value) -> None:
    with pytest.raises(TopicSpecError):
        parse_duration(value)
