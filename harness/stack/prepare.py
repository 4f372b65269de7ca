"""One-time preparation of the local services: done once, checked cheaply afterwards.

- PostgreSQL: initdb of our data folder (owned by the `postgres` user when we are root), then the
  harness and Airflow roles and databases;
- Kafka: the KRaft storage formatted once;
- Airflow: `airflow db migrate` (stamped by Airflow version) and the connections.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from foundation.layout import Layout
from foundation.settings import StackSettings
from harness.stack import configs
from harness.stack.endpoints import (
    AIRFLOW_DB,
    AIRFLOW_DB_USER,
    HARNESS_DB,
    HARNESS_DB_USER,
    Endpoints,
)
from harness.stack.services import postgres_bin, postgres_user, superuser_dsn

log = logging.getLogger(__name__)


def _chown(path: Path, user: str | None) -> None:
    if user:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def init_postgres(layout: Layout) -> None:
    """initdb the data folder once; make the socket folder writable by the server's user."""
    user = postgres_user()
    layout.pg_socket_dir.mkdir(parents=True, exist_ok=True)
    _chown(layout.pg_socket_dir, user)
    if (layout.pg_data / "PG_VERSION").exists():
        return
    layout.pg_data.mkdir(parents=True, exist_ok=True)
    layout.pg_data.chmod(0o700)
    _chown(layout.pg_data, user)
    # The server's user must be able to reach the data folder through the state folder.
    for parent in (layout.pg_data.parent, layout.home):
        parent.chmod(parent.stat().st_mode | 0o011)
    command = [str(postgres_bin() / "initdb"), "-D", str(layout.pg_data), "-U", "postgres",
               "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale"]
    if user:
        command = ["runuser", "-u", user, "--", *command]
    log.info("initdb %s", layout.pg_data)
    subprocess.run(command, check=True, capture_output=True, cwd="/")


def ensure_databases(settings: StackSettings, layout: Layout, endpoints: Endpoints) -> None:
    """Create (or update the password of) the harness and Airflow roles and their databases."""
    from urllib.parse import urlparse

    import psycopg2
    from psycopg2 import sql

    wanted = [
        (HARNESS_DB_USER, urlparse(endpoints.db_dsn).password or "", HARNESS_DB),
        (AIRFLOW_DB_USER, urlparse(endpoints.airflow_db_url).password or "", AIRFLOW_DB),
    ]
    conn = psycopg2.connect(superuser_dsn(settings, layout))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for role, password, database in wanted:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
                verb = "ALTER" if cur.fetchone() else "CREATE"
                cur.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(role)),
                            (password,))
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                if not cur.fetchone():
                    cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(role)))
                    log.info("created database %s", database)
    finally:
        conn.close()


def format_kafka(settings: StackSettings, layout: Layout) -> None:
    """Format the KRaft storage once (a formatted folder holds meta.properties)."""
    if (layout.kafka_data / "meta.properties").exists():
        return
    props = layout.conf / "kafka" / "server.properties"
    command = configs.kafka_java(layout, "kafka.tools.StorageTool", "format", "--standalone",
                                 "-t", configs.kafka_cluster_id(), "-c", str(props), heap="256m")
    log.info("formatting Kafka storage in %s", layout.kafka_data)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"kafka storage format failed: {result.stdout}\n{result.stderr}")


def _stamp(layout: Layout, name: str) -> Path:
    return layout.home / "stamps" / name


def _airflow(layout: Layout, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    return subprocess.run([str(layout.venv / "bin" / "airflow"), *args], env=full_env,
                          capture_output=True, text=True, cwd=str(layout.airflow_home))


def migrate_airflow(layout: Layout, env: dict[str, str]) -> None:
    """`airflow db migrate`, skipped when this Airflow version already migrated this database."""
    from importlib.metadata import version as package_version

    version = package_version("apache-airflow")  # the venv that runs `harness` is Airflow's
    key = hashlib.sha256(f"{version}|{env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN']}".encode()).hexdigest()
    stamp = _stamp(layout, "airflow-db")
    if stamp.exists() and stamp.read_text() == key:
        return
    log.info("migrating the Airflow metadata database (Airflow %s)", version)
    result = _airflow(layout, env, "db", "migrate")
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key)


def create_connections(layout: Layout, env: dict[str, str],
                       connections: dict[str, dict[str, object]]) -> None:
    """Import the Airflow connections (overwriting ours), skipped when unchanged since last time."""
    body = json.dumps(connections, sort_keys=True)
    key = hashlib.sha256(body.encode()).hexdigest()
    stamp = _stamp(layout, "airflow-connections")
    if stamp.exists() and stamp.read_text() == key:
        return
    path = layout.secrets / "airflow_connections.json"
    from harness.stack.secrets import write_private

    write_private(path, body)
    result = _airflow(layout, env, "connections", "import", "--overwrite", str(path))
    if result.returncode != 0:
        raise RuntimeError(f"airflow connections import failed:\n{result.stderr[-3000:]}")
    log.info("Airflow connections created: %s", ", ".join(sorted(connections)))
    stamp.write_text(key)


def check_bootstrapped(layout: Layout) -> None:
    missing = [str(p) for p in (layout.venv / "bin" / "airflow", layout.flink_venv / "bin" / "python",
                                layout.kafka_jars, layout.flink_connector_jars) if not p.exists()]
    if missing:
        raise FileNotFoundError("not bootstrapped (missing " + ", ".join(missing)
                                + "): run `make bootstrap` first")
    if shutil.which("java") is None:
        raise FileNotFoundError("java not found: run `make bootstrap`")
