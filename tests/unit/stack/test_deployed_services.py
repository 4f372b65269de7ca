"""harness.pipeline.ensure_services outside the local stack: with every infrastructure service
external (a compose deployment) it checks the pipeline services' health and starts nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.settings import get_settings
from harness import pipeline
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
    for service in services:
        service.probe = probe_of(service.name)
    monkeypatch.setattr(Stack, "services", lambda self, endpoints=None: services)
    rows = {row["name"]: row for row in stack.status()["services"]}
    assert "airflow-log-server" not in rows
    assert {row["state"] for row in rows.values()} == {"DEPLOYED"}
    assert all(row["healthy"] for row in rows.values())
    assert set(probed) == set(rows)

