"""The services of the local stack (each a :class:`harness.stack.service.Service`): how each is
started, where it answers, how its readiness is probed.

Infrastructure comes first (PostgreSQL, Kafka, Flink, Airflow); the pipeline's own services
(simulator, workers, relay, storage, event sink) come from `harness.stack.pipeline_services`;
``all_services`` is both.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from foundation.layout import Layout
from foundation.settings import StackSettings
from harness.stack import configs, probes
from harness.stack.airflow_env import airflow_env
from harness.stack.endpoints import Endpoints
from harness.stack.service import Service

log = logging.getLogger(__name__)


def postgres_bin() -> Path:
    """The newest Debian PostgreSQL server binaries on this machine."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if not candidates:
        raise FileNotFoundError("PostgreSQL server binaries not found: run scripts/bootstrap.sh")
    return candidates[-1].parent


def postgres_user() -> str | None:
    """PostgreSQL refuses to run as root: as root we run it as the `postgres` system user."""
    return "postgres" if os.geteuid() == 0 else None


def superuser_dsn(settings: StackSettings, layout: Layout) -> str:
    return f"host={layout.pg_socket_dir} port={settings.pg_port} user=postgres dbname=postgres"


def infrastructure(settings: StackSettings, layout: Layout, endpoints: Endpoints) -> list[Service]:
    services: list[Service] = []
    host = settings.host
    if settings.local_postgres:
        services.append(Service(
            name="postgres",
            command=[str(postgres_bin() / "postgres"), "-D", str(layout.pg_data),
                     "-h", settings.bind_host, "-p", str(settings.pg_port), "-k", str(layout.pg_socket_dir),
                     # 128MB (PostgreSQL's default): each backend's RSS counts the shared
                     # buffers it touched; with 256MB the database held 0.47 GB RSS after a
                     # 12,000-question load (bench/idle_memory.py)
                     "-c", "max_connections=200", "-c", "shared_buffers=128MB",
                     "-c", "synchronous_commit=on", "-c", "log_min_messages=warning"],
            url=f"postgresql://{host}:{settings.pg_port}",
            probe=probes.postgres(superuser_dsn(settings, layout)),
            phase=0, user=postgres_user(), stop_signal="INT",
        ))
    if settings.local_kafka:
        services.append(Service(
            name="kafka",
            command=configs.kafka_java(layout, "kafka.Kafka",
                                       str(layout.conf / "kafka" / "server.properties"),
                                       heap=settings.kafka_heap),
            url=f"kafka://{settings.kafka_bootstrap_servers}",
            probe=probes.kafka(settings.kafka_bootstrap_servers),
            phase=0,
        ))
    if settings.local_flink:
        flink_env = configs.flink_env(layout)
        bin_dir = Path(flink_env["FLINK_HOME"]) / "bin"
        services.append(Service(
            name="flink-jobmanager",
            command=["bash", str(bin_dir / "jobmanager.sh"), "start-foreground"],
            url=settings.flink_url, probe=probes.http_ok(f"{settings.flink_url}/config"),
            phase=0, env=flink_env,
        ))
        services.append(Service(
            name="flink-taskmanager",
            # first end the PyFlink workers a TaskManager killed before left behind (reparented
            # to init, they would keep their memory until `harness down`)
            command=["bash", "-c", f'"{layout.venv / "bin" / "python"}" -m harness.stack.reap; '
                     f'exec bash "{bin_dir / "taskmanager.sh"}" start-foreground'],
            url=settings.flink_url, probe=probes.flink(settings.flink_url),
            phase=1, env=flink_env,
        ))
    env = airflow_env(settings, layout, endpoints)
    airflow = str(layout.venv / "bin" / "airflow")
    health = probes.airflow(settings.airflow_url)
    for name, args in (
        ("airflow-api-server", ["api-server", "--host", settings.bind_host,
                                "--port", str(settings.airflow_port), "--workers", "1"]),
        # Their own log servers listen on every interface: airflow-log-server replaces them.
        ("airflow-scheduler", ["scheduler", "--skip-serve-logs"]),
        ("airflow-dag-processor", ["dag-processor"]),
        ("airflow-triggerer", ["triggerer", "--skip-serve-logs"]),
    ):
        services.append(Service(
            name=name, command=[airflow, *args], url=settings.airflow_url,
            probe=health if name != "airflow-api-server" else probes.http_ok(
                f"{settings.airflow_url}/api/v2/monitor/health"),
            phase=2, env=env, directory=layout.airflow_home, stop_wait_s=20,
        ))
    log_server = f"http://{host}:{settings.airflow_log_server_port}"
    services.append(Service(
        name="airflow-log-server",
        command=[str(layout.venv / "bin" / "python"), "-m", "harness.stack.airflow_logs",
                 "--host", settings.bind_host, "--port", str(settings.airflow_log_server_port),
                 "--log-folder", env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]],
        url=log_server, probe=probes.http_ok(f"{log_server}/health"),
        phase=2, env=env, directory=layout.airflow_home, stop_wait_s=10,
    ))
    return services


def all_services(settings: StackSettings, layout: Layout, endpoints: Endpoints) -> list[Service]:
    """The infrastructure, the optional local LLM (when installed), the pipeline's own services."""
    # Deferred, not for a cycle (pipeline_services imports only harness.stack.service): it loads
    # the pipeline's settings packages (about a second, the simulator's included), which the CLI
    # should not pay at start, and a broken one must not take `harness down` with it.
    from harness.stack import local_llm, pipeline_services

    services = [*infrastructure(settings, layout, endpoints),
                *local_llm.services(settings, layout),
                *pipeline_services.services(settings, layout, endpoints)]
    local_llm.allow_for_workers(services, settings)
    return services
