"""Supervision and lifecycle of the stack: status, crash restarts, and a clean `down`.

The `down` test stops the stack, so it is marked `stack_down` and runs after every other test.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from harness.stack import probes
from harness.stack.procs import alive, descendants


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=600)


def test_status_json_lists_every_service_with_url_and_health(stack, endpoints):
    result = _harness("status", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    status = json.loads(result.stdout)
    names = {s["name"] for s in status["services"]}
    assert {"postgres", "kafka", "flink-jobmanager", "flink-taskmanager", "airflow-api-server",
            "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"} <= names
    assert all(s["healthy"] is True and s["url"] for s in status["services"])
    assert status["airflow"] == {"url": endpoints.airflow_url, "username": endpoints.airflow_user,
                                 "password_file": str(stack.airflow_password_file())}
    # the password is kept in that file and never printed
    assert endpoints.airflow_password not in result.stdout + result.stderr
    text = _harness("status")
    assert endpoints.airflow_password not in text.stdout + text.stderr
    assert str(stack.airflow_password_file()) in text.stdout


def test_up_twice_is_harmless(stack, endpoints):
    before = {i["name"]: i["pid"] for i in stack.supervisor.infos()}
    stack.up()
    after = {i["name"]: i["pid"] for i in stack.supervisor.infos()}
    assert after == before  # nothing restarted


def test_crashed_service_is_restarted_and_the_restart_shows(stack, endpoints):
    name = "airflow-triggerer"
    info = {i["name"]: i for i in stack.supervisor.infos()}[name]
    before = stack.status()
    restarts_before = next(s["restarts"] for s in before["services"] if s["name"] == name)
    os.kill(info["pid"], signal.SIGKILL)

    def restarted() -> probes.ProbeResult:
        now = {i["name"]: i for i in stack.supervisor.infos()}[name]
        return probes.ProbeResult(now["statename"] == "RUNNING" and now["pid"] != info["pid"],
                                  now["statename"])

    probes.wait_until(name, restarted, timeout_s=60)
    row = next(s for s in stack.status()["services"] if s["name"] == name)
    assert row["restarts"] == restarts_before + 1
    probes.wait_until("airflow", probes.airflow(endpoints.airflow_url), timeout_s=120)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@pytest.mark.stack_down
def test_down_leaves_no_process_of_the_stack(stack, endpoints):
    supervisord = stack.supervisor.pid()
    assert supervisord is not None
    ours = descendants(supervisord) | {supervisord}
    assert len(ours) >= 8
    result = _harness("down")
    assert result.returncode == 0, result.stdout + result.stderr
    assert alive(ours) == set()
    settings = stack.settings
    for port in (settings.kafka_port, settings.flink_rest_port, settings.pg_port, settings.airflow_port):
        assert not _port_open(settings.host, port), port
    assert stack.supervisor.pid() is None
    # `down` again is harmless
    assert _harness("down").returncode == 0
