"""docker-compose.yml, read as YAML (nothing is built or run): every published port bound to the
bind variable and configurable, the single-instance pipeline services' health ports published
where their containers listen, none for the scalable services; and the host CLI's settings
(docker/compose-env.py) make `harness status` probe each service at its published port and the
workers through their consumer group."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from foundation.settings import get_settings
from harness.stack import probes
from harness.stack.probes import ProbeResult
from pipeline.events.settings import EventSinkSettings
from pipeline.llm.sim.settings import SimulatorSettings
from pipeline.relay.settings import RelaySettings
from pipeline.storage.settings import StorageSettings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.scale.yml")
#: "<bind>:<host port>:<container port>", the host port a HARNESS_COMPOSE_*_PORT with a default
PUBLISHED = re.compile(
    r"^\$\{HARNESS_COMPOSE_BIND:-127\.0\.0\.1\}:"
    r"\$\{(?P<var>HARNESS_COMPOSE_[A-Z_]+_PORT):-(?P<default>\d+)\}:(?P<container>\d+)$"
)
#: the single-instance pipeline services and the port their health endpoint listens on (the
#: settings' default: the compose file sets the host to bind, never the port)
HEALTH_PORTS = {
    "llm-simulator": SimulatorSettings.model_fields["port"].default,
    "retry-relay": RelaySettings.model_fields["health_port"].default,
    "storage": StorageSettings.model_fields["health_port"].default,
    "events-sink": EventSinkSettings.model_fields["health_port"].default,
}
SCALABLE = ("workers", "flink-taskmanager")


def services(name: str = "docker-compose.yml") -> dict[str, dict[str, Any]]:
    return yaml.safe_load((ROOT / name).read_text())["services"]


def compose_env() -> ModuleType:
    """docker/compose-env.py (a script: its name is no module name)."""
    spec = importlib.util.spec_from_file_location("compose_env", ROOT / "docker" / "compose-env.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def published() -> list[tuple[str, str, re.Match[str] | None]]:
    """(file, service, match) for every published port of both compose files."""
    return [(name, service, PUBLISHED.match(str(port)))
            for name in COMPOSE_FILES
            for service, body in services(name).items()
            for port in (body or {}).get("ports", [])]


def test_every_published_port_is_bound_to_the_bind_variable_and_configurable() -> None:
    ports = published()
    unbound = [(name, service) for name, service, m in ports if m is None]
    assert unbound == []
    variables = [m["var"] for _, _, m in ports if m is not None]
    assert len(variables) == len(set(variables))  # one variable per port
    # make compose-env writes the host CLI's settings for each, with the same default, and
    # compose-test moves each off the defaults so that it runs beside a deployment
    defaults = compose_env().PORTS
    assert {m["var"]: int(m["default"]) for _, _, m in ports if m is not None} == defaults
    test_script = (ROOT / "docker" / "compose-test.sh").read_text()
    for var in defaults:
        assert re.search(rf'^export {var}="\$\{{{var}:-2\d{{4}}\}}"$', test_script, re.M), var


def test_every_single_instance_pipeline_service_publishes_its_health_port() -> None:
    compose = services()
    for service, port in HEALTH_PORTS.items():
        body = compose[service]
        containers = [m["container"] for m in map(PUBLISHED.match, body.get("ports", [])) if m]
        assert containers == [str(port)], service
        assert f"http://127.0.0.1:{port}/health" in body["healthcheck"]["test"], service
        env = body["environment"]
        assert not any(k.endswith("_PORT") and v != str(port) for k, v in env.items()), service


def test_the_scalable_services_publish_no_port() -> None:
    for name in COMPOSE_FILES:
        compose = services(name)
        for service in SCALABLE:
            assert "ports" not in (compose.get(service) or {}), (name, service)


@pytest.fixture
def host_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment `harness.env` gives the CLI on the host, for a deployment on 2xxxx."""
    module = compose_env()
    ports = {var: 20000 + default % 10000 for var, default in module.PORTS.items()}
    values = {name: "pw" for name in module.SECRETS}
    env = module.cli_settings(tmp_path, values, ports)
    for key in list(os.environ):
        if key.startswith("HARNESS_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


def test_host_status_probes_each_service_at_its_published_port(
    host_cli: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from harness.stack.manager import Stack

    monkeypatch.setattr(probes, "consumer_group",
                        lambda bootstrap, group: lambda: ProbeResult(True, f"{group} @ {bootstrap}"))
    stack = Stack()
    assert stack.deployed_elsewhere() and not stack.supervisor.running()
    pipeline = {s.name: s for s in stack.deployed_services() if s.group == "pipeline"}
    assert set(pipeline) == {"llm-simulator", "retry-relay", "storage", "events-sink", "workers"}
    for name, port in HEALTH_PORTS.items():
        assert pipeline[name].url == f"http://127.0.0.1:{20000 + port % 10000}", name
    fleet = pipeline["workers"]  # through the Kafka port the host reaches
    assert host_cli["HARNESS_EXTERNAL_KAFKA"] == "127.0.0.1:29092"
    assert fleet.url == "kafka://127.0.0.1:29092 group qa-workers" and fleet.command == []
    assert fleet.probe() == ProbeResult(True, "qa-workers @ 127.0.0.1:29092")


def test_the_hosts_added_cas_are_copied_for_the_builds_once_and_again_when_changed(tmp_path) -> None:
    source, target = tmp_path / "host-cas", tmp_path / "extra-ca"
    source.mkdir()
    (source / "proxy.crt").write_text("A")
    (source / "notes.txt").write_text("not a certificate")
    copy = compose_env().copy_host_cas
    assert copy(source, target) == ["proxy.crt"]
    assert (target / "proxy.crt").read_text() == "A" and not (target / "notes.txt").exists()
    assert copy(source, target) == []  # unchanged: nothing to copy
    (source / "proxy.crt").write_text("B")
    assert copy(source, target) == ["proxy.crt"] and (target / "proxy.crt").read_text() == "B"
    assert copy(tmp_path / "absent", target) == []
