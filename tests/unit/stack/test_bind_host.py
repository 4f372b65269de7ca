"""Every listening socket of the local stack is on `bind_host` (loopback unless opened on purpose),
checked on the generated configs and commands (nothing is started)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from foundation.layout import Layout
from foundation.settings import StackSettings
from harness.stack import airflow_logs, configs, marks, services
from harness.stack.airflow_env import airflow_env
from harness.stack.endpoints import resolve


def _settings(tmp_path: Path, **overrides: object) -> StackSettings:
    return StackSettings(home=tmp_path, **overrides)  # type: ignore[arg-type]


def _fake_pyflink(layout: Layout) -> None:
    """The parts of the apache-flink wheel that flink_conf reads."""
    pyflink = layout.flink_venv / "lib" / "python3.11" / "site-packages" / "pyflink"
    for folder in ("conf", "lib", "opt"):
        (pyflink / folder).mkdir(parents=True)
    (pyflink / "conf" / "config.yaml").write_text("env:\n  java:\n    opts:\n      all: --add-exports=x\n")


def test_bind_host_defaults_to_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_BIND_HOST", raising=False)
    assert _settings(tmp_path).bind_host == "127.0.0.1"
    monkeypatch.setenv("HARNESS_BIND_HOST", "0.0.0.0")
    assert _settings(tmp_path).bind_host == "0.0.0.0"


@pytest.mark.parametrize("bind", ["127.0.0.1", "0.0.0.0"])
def test_kafka_listens_on_bind_host_and_advertises_host(tmp_path: Path, bind: str) -> None:
    settings = _settings(tmp_path, bind_host=bind)
    path = configs.kafka_server_properties(settings, Layout.of(settings))
    props = dict(line.split("=", 1) for line in path.read_text().splitlines())
    assert props["listeners"] == f"PLAINTEXT://{bind}:9092,CONTROLLER://{bind}:9093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"


@pytest.mark.parametrize("bind", ["127.0.0.1", "0.0.0.0"])
def test_flink_binds_every_server_to_bind_host(tmp_path: Path, bind: str) -> None:
    yaml = pytest.importorskip("yaml")
    settings = _settings(tmp_path, bind_host=bind)
    layout = Layout.of(settings)
    _fake_pyflink(layout)
    conf = yaml.safe_load((configs.flink_conf(settings, layout) / "config.yaml").read_text())
    assert conf["jobmanager"]["bind-host"] == bind        # RPC, blob server, metrics RPC
    assert conf["taskmanager"]["bind-host"] == bind       # RPC, data (netty), metrics RPC
    assert conf["rest"]["bind-address"] == bind
    assert conf["jobmanager"]["rpc"]["address"] == "127.0.0.1"
    assert conf["taskmanager"]["host"] == "127.0.0.1"
    assert conf["rest"]["address"] == "127.0.0.1"


def test_postgres_airflow_and_the_log_server_listen_on_bind_host(tmp_path: Path) -> None:
    settings = _settings(tmp_path, bind_host="10.1.2.3", external_kafka="k:9092",
                         external_flink_url="http://f:8081")
    layout = Layout.of(settings)
    endpoints = resolve(settings, layout)
    try:
        found = {s.name: s for s in services.infrastructure(settings, layout, endpoints)}
    except FileNotFoundError:
        pytest.skip("no PostgreSQL binaries on this machine")
    pg = found["postgres"].command
    assert pg[pg.index("-h") + 1] == "10.1.2.3"
    api = found["airflow-api-server"].command
    assert api[api.index("--host") + 1] == "10.1.2.3"
    assert "--skip-serve-logs" in found["airflow-scheduler"].command
    assert "--skip-serve-logs" in found["airflow-triggerer"].command
    log_server = found["airflow-log-server"].command
    assert log_server[log_server.index("--host") + 1] == "10.1.2.3"
    env = airflow_env(settings, layout, endpoints)
    assert env["AIRFLOW__API__HOST"] == "10.1.2.3"
    port = str(settings.airflow_log_server_port)
    assert env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == port
    assert env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] == port
    # Log URLs name the task's hostname: the address clients use, not the bind address.
    assert env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] == airflow_logs.HOSTNAME_CALLABLE
    assert env[airflow_logs.HOSTNAME_VAR] == settings.host


def test_airflow_hostname_is_the_stacks_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(airflow_logs.HOSTNAME_VAR, "192.0.2.7")
    assert airflow_logs.hostname() == "192.0.2.7"
    monkeypatch.delenv(airflow_logs.HOSTNAME_VAR)
    assert airflow_logs.hostname() == "127.0.0.1"


def test_the_finder_sees_a_real_child_through_proc(tmp_path: Path) -> None:
    """The real /proc: a child started with the mark is found, one without it is not."""
    mark = marks.stack_id(Layout(home=tmp_path))
    code = "import sys; sys.stdin.read()"
    with subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                          env={**os.environ, marks.MARK_VAR: mark}) as ours, \
         subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE) as other:
        try:
            found = marks.marked(mark)
            assert ours.pid in found and other.pid not in found
        finally:
            for child in (ours, other):
                assert child.stdin is not None
                child.stdin.close()
    assert ours.pid not in marks.marked(mark)
