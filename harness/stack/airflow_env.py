"""Configuration of the local Airflow 3, as environment variables shared by its components
(api-server, scheduler, dag-processor, triggerer) and by the `airflow` CLI calls of `harness up`."""

from __future__ import annotations

import json

from foundation.layout import Layout
from foundation.repo import REPO_ROOT
from foundation.settings import StackSettings
from harness.stack import airflow_logs, secrets
from harness.stack.endpoints import Endpoints


def passwords_file(layout: Layout) -> str:
    return str(layout.secrets / "simple_auth_manager_passwords.json")


def write_passwords_file(layout: Layout, endpoints: Endpoints) -> None:
    """The simple auth manager reads the admin password from here (written before it starts)."""
    secrets.write_private(
        layout.secrets / "simple_auth_manager_passwords.json",
        json.dumps({endpoints.airflow_user: endpoints.airflow_password}),
    )


def airflow_env(settings: StackSettings, layout: Layout, endpoints: Endpoints) -> dict[str, str]:
    sec = layout.secrets
    env = {
        "AIRFLOW_HOME": str(layout.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(layout.dags),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(settings.airflow_parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(settings.airflow_parallelism),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__FERNET_KEY": secrets.get_or_create(sec, "airflow_fernet_key", kind="fernet"),
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{endpoints.airflow_user}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": passwords_file(layout),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.airflow_url}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": endpoints.airflow_db_url,
        "AIRFLOW__API__HOST": settings.bind_host,
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        "AIRFLOW__API__BASE_URL": settings.airflow_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": secrets.get_or_create(sec, "airflow_api_secret_key", "signing-key"),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.get_or_create(sec, "airflow_jwt_secret", "signing-key"),
        # Every start parses all DAG files at once; afterwards an edited DAG file is seen within
        # a minute. Re-parsing every 10 s cost 0.15 CPU-seconds per second, 8% of the stack's CPU
        # at full load (bench/capacity.py).
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "60",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(layout.airflow_home / "logs"),
        # One log server of our own on bind_host serves worker and triggerer logs (airflow_logs).
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(settings.airflow_log_server_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(settings.airflow_log_server_port),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": airflow_logs.HOSTNAME_CALLABLE,
        airflow_logs.HOSTNAME_VAR: settings.host,
        "AIRFLOW__WEBSERVER__EXPOSE_CONFIG": "False",
        "PYTHONPATH": str(REPO_ROOT),
        "PATH": f"{layout.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "NO_PROXY": "*",
    }
    env.update(endpoints.service_env())
    return env


def connections(endpoints: Endpoints) -> dict[str, dict[str, object]]:
    """Airflow connections created by `harness up`: the Kafka broker and the harness database."""
    from urllib.parse import urlparse

    db = urlparse(endpoints.db_dsn)
    return {
        "kafka_default": {
            "conn_type": "kafka",
            "extra": json.dumps({"bootstrap.servers": endpoints.kafka_bootstrap,
                                 "group.id": "airflow", "security.protocol": "PLAINTEXT"}),
        },
        "harness_db": {
            "conn_type": "postgres",
            "host": db.hostname or "",
            "port": db.port or 5432,
            "login": db.username or "",
            "password": db.password or "",
            "schema": (db.path or "/").lstrip("/"),
        },
    }
