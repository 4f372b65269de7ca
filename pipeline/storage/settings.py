"""Settings of the database connection (``HARNESS_DB_``) and of the storage service
(``HARNESS_STORAGE_``). ``HARNESS_DB_DSN`` comes from services.env; it holds a password, so it is
a secret (never logged)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from pipeline.kafka.settings import ServiceEnvSettings


class DatabaseSettings(ServiceEnvSettings):
    model_config = SettingsConfigDict(env_prefix="HARNESS_DB_", extra="ignore")

    dsn: SecretStr = Field(
        default=SecretStr("postgresql://harness@127.0.0.1:5432/harness"),
        description="libpq DSN or URL of the harness database",
    )
    connect_timeout_s: int = Field(default=10, ge=1)


class StorageSettings(ServiceEnvSettings):
    model_config = SettingsConfigDict(env_prefix="HARNESS_STORAGE_", extra="ignore")

    group_id: str = Field(default="qa-storage", description="consumer group of the storage service")
    batch_size: int = Field(
        default=500, ge=1, le=10_000, description="records per database transaction"
    )
    poll_timeout_s: float = Field(
        default=0.05,
        gt=0,
        le=10,
        description="longest wait for a record when none has arrived (the loop never waits for "
        "a batch to fill: a batch is what has arrived, up to batch_size)",
    )
    health_host: str = "127.0.0.1"
    health_port: int = Field(
        default=8091, ge=0, le=65535, description="GET /health; 0 = any free port"
    )
