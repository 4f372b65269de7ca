"""Settings of the local stack (the one home for its configuration).

Every value can be set by an environment variable with the prefix ``HARNESS_`` (for example
``HARNESS_EXTERNAL_KAFKA=broker:9092``). An ``external_*`` setting replaces the local service of
that name, which `harness up` then neither starts nor stops.

The services read only ``home`` from these: `harness up` resolves the endpoints once and writes
them to ``<home>/conf/services.env`` (HARNESS_KAFKA_BOOTSTRAP, HARNESS_DB_DSN, HARNESS_FLINK_URL,
HARNESS_AIRFLOW_URL; :attr:`foundation.layout.Layout.services_env`), which every service's own
settings module reads. The Flink job controller (``flink.control``) reads the Kafka and Flink
addresses from here.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from foundation.repo import REPO_ROOT


class StackSettings(BaseSettings):
    """Where the local stack lives and how its services are reached."""

    model_config = SettingsConfigDict(env_prefix="HARNESS_", extra="ignore")

    home: Path = Field(REPO_ROOT / ".state", description="the one ignored folder holding all state")
    host: str = "127.0.0.1"
    bind_host: str = Field(
        "127.0.0.1", description="the interface every local service listens on; "
        "0.0.0.0 opens the stack to the network on purpose (clients still use `host`)"
    )

    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    external_kafka: str | None = Field(None, description="external brokers; default: run our own")
    kafka_heap: str = Field(
        "256m",
        description="the broker's JVM heap (Kafka keeps its data in the page cache, not the heap); "
        "512m idled at 444 MB RSS",
    )

    flink_rest_port: int = 8081
    flink_rpc_port: int = 6123
    flink_blob_port: int = 6124
    external_flink_url: str | None = Field(None, description="external Flink REST; default: run our own")
    flink_taskmanager_slots: int = 2
    flink_jobmanager_memory: str = Field(
        "768m", description="JobManager process size (one job; 1024m idled at 257 MB RSS)"
    )
    flink_taskmanager_memory: str = Field(
        "1536m",
        description="TaskManager process size (the scoring job's Python workers are processes of "
        "their own, outside it)",
    )

    pg_port: int = 5432
    external_pg_dsn: str | None = Field(
        None, description="external harness database (libpq DSN); default: run our own PostgreSQL"
    )
    external_airflow_db_url: str | None = Field(
        None, description="external Airflow metadata DB (SQLAlchemy URL); needed with external_pg_dsn"
    )

    airflow_port: int = 8080
    airflow_log_server_port: int = 8793
    airflow_parallelism: int = Field(
        2,
        ge=2,
        description="task slots (LocalExecutor worker processes, forked from the scheduler at "
        "start, each about 140 MB RSS): the DAGs' long waits are deferred and take no slot, the "
        "experiment DAG runs one task at a time, the pipeline DAG's two health checks run side by "
        "side",
    )
    airflow_user: str = "admin"

    # The optional local LLM (`make local-llm`, docs/local-llm.md): a llama.cpp server.
    local_llm: bool | None = Field(
        None, description="run the local-llm service under `harness up`: unset = when "
        "`make local-llm` installed it, true = always (fails when not installed), false = never"
    )
    local_llm_port: int = 8088
    local_llm_ctx: int = Field(2048, description="the local LLM's context window, in tokens")

    # Deadlines for readiness probes, in seconds.
    ready_timeout_s: float = 180.0

    @property
    def kafka_bootstrap_servers(self) -> str:
        return self.external_kafka or f"{self.host}:{self.kafka_port}"

    @property
    def flink_url(self) -> str:
        return self.external_flink_url or f"http://{self.host}:{self.flink_rest_port}"

    @property
    def airflow_url(self) -> str:
        return f"http://{self.host}:{self.airflow_port}"

    @property
    def local_postgres(self) -> bool:
        """True when PostgreSQL is ours to run (no external DSN given)."""
        return self.external_pg_dsn is None

    @property
    def local_kafka(self) -> bool:
        return self.external_kafka is None

    @property
    def local_flink(self) -> bool:
        return self.external_flink_url is None


@lru_cache(maxsize=1)
def get_settings() -> StackSettings:
    """The settings of this process's environment, read once (``get_settings.cache_clear()``
    rereads them, e.g. after a test changed ``HARNESS_HOME``)."""
    return StackSettings()
