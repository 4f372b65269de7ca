"""Resolved endpoints of the stack, shared with every service through ``conf/services.env``.

The stack's settings say whether a service is ours or external; this module turns that into the
concrete addresses and credentials the services use, and writes them once to a 0600 env file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from foundation.layout import Layout
from foundation.settings import StackSettings
from harness.stack import secrets

HARNESS_DB = "harness"
HARNESS_DB_USER = "harness"
AIRFLOW_DB = "airflow"
AIRFLOW_DB_USER = "airflow"


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    db_dsn: str
    flink_url: str
    airflow_url: str
    airflow_db_url: str
    airflow_user: str
    airflow_password: str

    def service_env(self) -> dict[str, str]:
        """The variables every service and task gets (read by the services' settings modules)."""
        return {
            "HARNESS_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "HARNESS_DB_DSN": self.db_dsn,
            "HARNESS_FLINK_URL": self.flink_url,
            "HARNESS_AIRFLOW_URL": self.airflow_url,
        }


def resolve(settings: StackSettings, layout: Layout) -> Endpoints:
    """Endpoints for this settings/layout, creating the local passwords on first use."""
    if settings.local_postgres:
        harness_pw = secrets.get_or_create(layout.secrets, "pg_harness_password")
        airflow_pw = secrets.get_or_create(layout.secrets, "pg_airflow_password")
        host, port = settings.host, settings.pg_port
        db_dsn = f"postgresql://{HARNESS_DB_USER}:{harness_pw}@{host}:{port}/{HARNESS_DB}"
        airflow_db_url = (
            f"postgresql+psycopg2://{AIRFLOW_DB_USER}:{airflow_pw}@{host}:{port}/{AIRFLOW_DB}"
        )
    else:
        assert settings.external_pg_dsn is not None
        if not settings.external_airflow_db_url:
            raise ValueError(
                "HARNESS_EXTERNAL_AIRFLOW_DB_URL is required with HARNESS_EXTERNAL_PG_DSN"
            )
        db_dsn = settings.external_pg_dsn
        airflow_db_url = settings.external_airflow_db_url
    return Endpoints(
        kafka_bootstrap=settings.kafka_bootstrap_servers,
        db_dsn=db_dsn,
        flink_url=settings.flink_url,
        airflow_url=settings.airflow_url,
        airflow_db_url=airflow_db_url,
        airflow_user=settings.airflow_user,
        airflow_password=secrets.get_or_create(layout.secrets, "airflow_admin_password"),
    )


def write_services_env(endpoints: Endpoints, layout: Layout) -> Path:
    path = layout.services_env
    body = "".join(f"{key}={value}\n" for key, value in sorted(endpoints.service_env().items()))
    secrets.write_private(path, body)
    return path
