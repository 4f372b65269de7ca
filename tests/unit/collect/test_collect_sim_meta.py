"""Simulator counter deltas, component versions and the git revision (no services)."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from experiments.collect_meta import (
    StatePaths,
    component_versions,
    connector_version,
    flink_version,
    git_revision,
    kafka_version,
)
from experiments.collect_sim import counter_delta, flatten_counters, snapshot_sim_counters


def snap(since: float, total: int, by_status: dict[str, int], **extra: Any) -> dict[str, Any]:
    return {"since": since, "total": total, "by_status": by_status,
            "by_outcome": extra.pop("by_outcome", {}), "prompt_tokens": extra.pop("prompt", 0),
            "completion_tokens": 0, "in_flight": 3, "max_in_flight": 40, "profile": "flaky"}


class TestCounters:
    def test_flatten_names_the_metrics_keys(self) -> None:
        flat = flatten_counters(snap(1.0, 10, {"200": 6, "429": 2, "503": 1, "500": 1},
                                     by_outcome={"ok": 6, "rate_limited": 2}))
        assert flat["requests"] == 10 and flat["status_429"] == 2 and flat["status_5xx"] == 2
        assert flat["status_200"] == 6 and flat["outcome_rate_limited"] == 2
        assert "in_flight" not in flat and "max_in_flight" not in flat

    def test_delta_subtracts_and_fills_missing_keys(self) -> None:
        before = snap(1.0, 10, {"200": 10}, prompt=100)
        after = snap(1.0, 25, {"200": 20, "429": 5}, prompt=250)
        delta = counter_delta(before, after)
        assert delta["requests"] == 15 and delta["status_200"] == 10
        assert delta["status_429"] == 5 and delta["status_5xx"] == 0
        assert delta["prompt_tokens"] == 150

    def test_reset_between_snapshots_counts_from_the_reset(self) -> None:
        delta = counter_delta(snap(1.0, 100, {"200": 100}), snap(2.0, 7, {"200": 7}))
        assert delta["requests"] == 7
        assert counter_delta(None, snap(2.0, 7, {"200": 7}))["requests"] == 7

    def test_snapshot_uses_the_admin_client(self) -> None:
        class Admin:
            def counters(self) -> dict[str, Any]:
                return {"total": 3}

        admin: Any = Admin()
        assert snapshot_sim_counters("http://x", admin=admin) == {"total": 3}


class TestVersions:
    def test_jar_names(self) -> None:
        names = ["kafka-clients-4.1.1.jar", "kafka_2.13-4.1.1.jar", "kafka-raft-4.1.1.jar"]
        assert kafka_version(names) == "4.1.1"
        assert kafka_version(["kafka-clients-4.1.1.jar"]) is None
        assert connector_version(["flink-sql-connector-kafka-5.0.0-2.2.jar"]) == "5.0.0-2.2"

    def test_flink_from_the_dist_info_folder(self, tmp_path: Path) -> None:
        (tmp_path / "lib/python3.11/site-packages/apache_flink-2.2.1.dist-info").mkdir(parents=True)
        (tmp_path / "lib/python3.11/site-packages/apache_flink_libraries-2.2.1.dist-info").mkdir()
        assert flink_version(tmp_path) == "2.2.1"
        assert flink_version(tmp_path / "absent") is None

    def test_component_versions(self, tmp_path: Path) -> None:
        jars = tmp_path / "jars"
        jars.mkdir()
        (jars / "kafka_2.13-4.1.1.jar").touch()

        def dist(name: str) -> str:
            if name == "openai":
                raise metadata.PackageNotFoundError(name)
            return f"{name}-1.0"

        out = component_versions(StatePaths(kafka_jars=jars), server_version="16.9 (Debian 16.9-1)",
                                 dist_version=dist)
        assert out["kafka"] == "4.1.1" and out["postgresql"] == "16.9"
        assert out["airflow"] == "apache-airflow-1.0" and "openai" not in out
        assert "apache-flink" not in out and out["python"].startswith("3.")


class TestGit:
    def test_revision(self) -> None:
        def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
            assert cmd[-2:] == ["rev-parse", "HEAD"]
            return subprocess.CompletedProcess(cmd, 0, "abc123\n", "")

        assert git_revision(Path("/repo"), run=run) == "abc123"

    @pytest.mark.parametrize("outcome", ["fail", "missing"])
    def test_unavailable(self, outcome: str) -> None:
        def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
            if outcome == "missing":
                raise FileNotFoundError("git")
            return subprocess.CompletedProcess(cmd, 128, "", "not a git repository")

        assert git_revision(Path("/repo"), run=run) is None
