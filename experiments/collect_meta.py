"""Run metadata that is not in the database: component versions and the git revision.

Versions are read without importing anything heavy: Python packages of this environment from
their distribution metadata, apache-flink from the ``*.dist-info`` folder name in the Flink
virtualenv (it cannot be imported here: the two environments pin different numpy/protobuf), the
Kafka broker from its jar name (``kafka_2.13-4.1.1.jar``) and the Kafka connector of Flink from
``flink-sql-connector-kafka-5.0.0-2.2.jar``.
"""

from __future__ import annotations

import logging
import platform
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from foundation.layout import Layout
from foundation.repo import REPO_ROOT
from foundation.settings import StackSettings

log = logging.getLogger(__name__)

#: distributions of this environment reported by name (report key -> distribution)
PACKAGES: dict[str, str] = {
    "airflow": "apache-airflow",
    "confluent-kafka": "confluent-kafka",
    "openai": "openai",
    "psycopg2": "psycopg2-binary",
}

_KAFKA_JAR = re.compile(r"^kafka_(?P<scala>\d+\.\d+)-(?P<version>[0-9][\w.\-]*)\.jar$")
_CONNECTOR_JAR = re.compile(r"^flink-sql-connector-kafka-(?P<version>[0-9][\w.\-]*)\.jar$")
_DIST_INFO = re.compile(r"^apache_flink-(?P<version>[0-9][^-]*)\.dist-info$")

@dataclass(frozen=True)
class StatePaths:
    """Where the stack keeps the Flink environment and the jars (see foundation.layout)."""

    flink_venv: Path | None = None
    kafka_jars: Path | None = None
    flink_jars: Path | None = None

    @classmethod
    def of_stack(cls) -> StatePaths:
        """The local stack's paths (from the stack settings)."""
        layout = Layout.of(StackSettings())
        return cls(layout.flink_venv, layout.kafka_jars, layout.flink_connector_jars)


def _names(folder: Path | None, pattern: str) -> list[str]:
    if folder is None or not folder.is_dir():
        return []
    return sorted(p.name for p in folder.glob(pattern))


def kafka_version(jar_names: list[str]) -> str | None:
    """``kafka_2.13-4.1.1.jar`` -> ``4.1.1`` (the broker jar; client jars are ignored)."""
    for name in jar_names:
        m = _KAFKA_JAR.match(name)
        if m:
            return m.group("version")
    return None


def connector_version(jar_names: list[str]) -> str | None:
    for name in jar_names:
        m = _CONNECTOR_JAR.match(name)
        if m:
            return m.group("version")
    return None


def flink_version(flink_venv: Path | None) -> str | None:
    """apache-flink's version from its dist-info folder in the Flink virtualenv."""
    if flink_venv is None or not flink_venv.is_dir():
        return None
    for path in sorted(flink_venv.glob("lib/python3*/site-packages/apache_flink-*.dist-info")):
        m = _DIST_INFO.match(path.name)
        if m:
            return m.group("version")
    return None


def component_versions(
    paths: StatePaths | None = None,
    *,
    server_version: str | None = None,
    dist_version: Callable[[str], str] = metadata.version,
) -> dict[str, str]:
    """Versions of the pieces a run used; what cannot be found is left out (and logged)."""
    paths = paths or StatePaths()
    out: dict[str, str] = {"python": platform.python_version()}
    for key, dist in PACKAGES.items():
        try:
            out[key] = dist_version(dist)
        except metadata.PackageNotFoundError:
            log.debug("%s is not installed here; its version is not reported", dist)
    found = {
        "apache-flink": flink_version(paths.flink_venv),
        "kafka": kafka_version(_names(paths.kafka_jars, "kafka_*.jar")),
        "flink-sql-connector-kafka": connector_version(
            _names(paths.flink_jars, "flink-sql-connector-kafka-*.jar")
        ),
        "postgresql": server_version.split()[0] if server_version else None,
    }
    for key, version in found.items():
        if version:
            out[key] = version
        else:
            log.info("version of %s not found; left out of the report", key)
    return out


Runner = Callable[..., subprocess.CompletedProcess[str]]


def git_revision(repo: Path = REPO_ROOT, *, run: Runner = subprocess.run) -> str | None:
    """``git rev-parse HEAD`` of ``repo``, or None when git or the repository is missing."""
    try:
        done = run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                   timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.info("git revision unavailable: %s", exc)
        return None
    revision = done.stdout.strip()
    if done.returncode != 0 or not revision:
        log.info("git revision unavailable: %s", done.stderr.strip()[:200])
        return None
    return revision
