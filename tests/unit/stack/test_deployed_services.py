"""harness.pipeline.ensure_services outside the local stack: with every infrastructure service
external (a compose deployment) it checks the pipeline services' health and starts nothing;
`harness status` and the services' health show the deployment's workers as one fleet, probed
through their consumer group."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupState, KafkaException, Node, TopicPartition
from confluent_kafka.admin import ConsumerGroupDescription, MemberAssignment, MemberDescription

from foundation.settings import get_settings
from harness import pipeline
from harness.stack import probes
from harness.stack.probes import ProbeResult

EXTERNAL = {
    "HARNESS_EXTERNAL_KAFKA": "kafka:9092",
    "HARNESS_EXTERNAL_FLINK_URL": "http://flink-jobmanager:8081",
    "HARNESS_EXTERNAL_PG_DSN": "postgresql://harness:x@postgres:5432/harness",
    "HARNESS_EXTERNAL_AIRFLOW_DB_URL": "postgresql+psycopg2://airflow:x@postgres:5432/airflow",
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    for key in EXTERNAL:
        monkeypatch.delenv(key, raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def external(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in EXTERNAL.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()


def test_deployed_services_are_checked_not_started(home, monkeypatch):
    external(monkeypatch)
    monkeypatch.setattr(pipeline, "service_health",
                        lambda: {"storage": ProbeResult(True, "HTTP 200")})
    monkeypatch.setattr(pipeline.Stack, "up", lambda self: pytest.fail("must not start anything"))
    pipeline.ensure_services(workers=3, concurrency=64)


def test_unhealthy_deployed_service_is_named(home, monkeypatch):
    external(monkeypatch)
    monkeypatch.setattr(pipeline, "service_health", lambda: {
        "storage": ProbeResult(True, "HTTP 200"),
        "worker-0": ProbeResult(False, "connection refused"),
    })
    with pytest.raises(RuntimeError, match="worker-0: connection refused"):
        pipeline.ensure_services()


def test_local_stack_not_running_is_still_an_error(home):
    with pytest.raises(RuntimeError, match="harness up"):
        pipeline.ensure_services()


def test_status_probes_a_deployment_without_the_local_log_server(home, monkeypatch):
    from harness.stack.manager import Stack

    external(monkeypatch)
    probed: list[str] = []

    def probe_of(name: str):
        def probe() -> ProbeResult:
            probed.append(name)
            return ProbeResult(True, "ok")
        return probe

    stack = Stack()
    services = stack.services()
    assert "worker-0" in {s.name for s in services}
    for service in services:
        service.probe = probe_of(service.name)
    monkeypatch.setattr(Stack, "services", lambda self, endpoints=None: services)
    monkeypatch.setattr(probes, "consumer_group", lambda bootstrap, group: probe_of("workers"))
    rows = {row["name"]: row for row in stack.status()["services"]}
    assert "airflow-log-server" not in rows
    # the deployment scales its workers: one row, probed through their consumer group
    assert "workers" in rows and not any(name.startswith("worker-") for name in rows)
    assert rows["workers"]["url"] == "kafka://kafka:9092 group qa-workers"
    assert {row["state"] for row in rows.values()} == {"DEPLOYED"}
    assert all(row["healthy"] for row in rows.values())
    assert set(probed) == set(rows)


def test_deployed_service_health_is_what_status_shows(home, monkeypatch):
    """The DAG's check (and `harness pipeline status`) in a deployment: the fleet, not worker-0."""
    from harness.stack.manager import Stack

    external(monkeypatch)
    services = Stack().services()
    for service in services:
        service.probe = lambda: ProbeResult(True, "HTTP 200")
    monkeypatch.setattr(Stack, "services", lambda self, endpoints=None: services)
    monkeypatch.setattr(probes, "consumer_group",
                        lambda bootstrap, group: lambda: ProbeResult(False, f"{group}: no member"))
    health = pipeline.service_health()
    assert set(health) == {"llm-simulator", "retry-relay", "storage", "events-sink", "workers"}
    assert health["workers"] == ProbeResult(False, "qa-workers: no member")
    with pytest.raises(RuntimeError, match="workers: qa-workers: no member"):
        pipeline.ensure_services()


def test_the_supervisor_keeps_its_workers_one_by_one(home, monkeypatch):
    """Stack.services is what a supervisor starts (worker-0, ...); only a deployment's view
    (as_deployed) folds them into the fleet, where the first of them was."""
    from harness.stack.pipeline_services import as_deployed

    external(monkeypatch)
    services = pipeline.Stack().services()
    names = [s.name for s in services]
    assert "worker-0" in names and "workers" not in names
    fleet = [s.name for s in as_deployed(services, pipeline.Stack().endpoints())]
    assert fleet.count("workers") == 1 and fleet.index("workers") == names.index("worker-0")


class FakeAdmin:
    """AdminClient.describe_consumer_groups answering with DESCRIPTION (or raising it)."""

    def __init__(self, description: object) -> None:
        self.description = description
        self.config: dict[str, object] = {}
        self.timeout: float | None = None

    def __call__(self, config: dict[str, object]) -> FakeAdmin:
        self.config = config
        return self

    def describe_consumer_groups(self, groups: list[str], request_timeout: float):
        self.timeout = request_timeout
        future: Future[object] = Future()
        if isinstance(self.description, Exception):
            future.set_exception(self.description)
        else:
            future.set_result(self.description)
        return {group: future for group in groups}


def _group(members: int, state: ConsumerGroupState) -> ConsumerGroupDescription:
    """A description as confluent_kafka returns it: MEMBERS with 2 partitions each."""
    return ConsumerGroupDescription(
        "qa-workers", False,
        [MemberDescription(f"m{i}", "worker-0", f"/10.0.0.{i}", MemberAssignment(
            [TopicPartition("qa.questions", 2 * i), TopicPartition("qa.questions", 2 * i + 1)]))
         for i in range(members)],
        "range", state, Node(1, "kafka", 9092))


def test_consumer_group_probe_counts_the_members() -> None:
    admin = FakeAdmin(_group(3, ConsumerGroupState.STABLE))
    result = probes.consumer_group("kafka:9092", "qa-workers", make_admin=admin)()
    assert result == ProbeResult(
        True, "3 member(s) of group qa-workers, 6 partition(s) assigned (stable)")
    assert admin.config["bootstrap.servers"] == "kafka:9092" and admin.timeout  # bounded


def test_consumer_group_probe_fails_without_a_member_or_a_broker() -> None:
    empty = FakeAdmin(_group(0, ConsumerGroupState.EMPTY))
    assert probes.consumer_group("k:1", "qa-workers", make_admin=empty)() == ProbeResult(
        False, "group qa-workers: no member (empty)")
    down = FakeAdmin(KafkaException("broker transport failure"))
    result = probes.consumer_group("k:1", "qa-workers", make_admin=down)()
    assert not result.ok and "broker transport failure" in result.detail

