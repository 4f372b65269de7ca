"""Kafka client settings (env prefix ``HARNESS_KAFKA_``) and the base class of every service's
settings: environment variables first, then ``<home>/conf/services.env`` (written by ``harness up``)
as a fallback, then the defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from foundation.layout import Layout
from foundation.settings import get_settings


def services_env_file() -> Path | None:
    """``<home>/conf/services.env`` (:attr:`Layout.services_env`) if it exists and is readable,
    else None. Never raises: an invalid ``HARNESS_*`` stack setting means no fallback file."""
    try:
        path = Layout.of(get_settings()).services_env
    except (OSError, ValueError):
        return None
    return path if path.is_file() and os.access(path, os.R_OK) else None


class ServiceEnvSettings(BaseSettings):
    """Base settings that also read the stack's ``services.env`` (lower priority than the env)."""

    model_config = SettingsConfigDict(extra="ignore")

    def __init__(self, **values: Any) -> None:
        if "_env_file" not in values:
            values["_env_file"] = services_env_file()
        super().__init__(**values)


class KafkaSettings(ServiceEnvSettings):
    """How every service reaches Kafka. ``HARNESS_KAFKA_BOOTSTRAP`` comes from services.env."""

    model_config = SettingsConfigDict(env_prefix="HARNESS_KAFKA_", extra="ignore")

    bootstrap: str = Field(default="127.0.0.1:9092", description="bootstrap.servers")
    client_id_prefix: str = Field(default="llm-pipeline", description="prefix of every client.id")
    linger_ms: float = Field(
        default=1.0,
        ge=0,
        le=1000,
        description="producer linger (batching delay): every record on the question path waits "
        "up to this long before it is sent, once per Kafka hop; under load batches form anyway "
        "while earlier requests are in flight",
    )
    compression: str = Field(default="lz4", description="producer compression.type")
    message_max_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024,
        description="largest record a producer sends (topic limit)",
    )
    session_timeout_ms: int = Field(default=30_000, ge=1000)
    max_poll_interval_ms: int = Field(default=300_000, ge=10_000)
    security_protocol: str | None = Field(
        default=None, description="e.g. SASL_SSL on a real cluster"
    )
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    extra: dict[str, str] = Field(
        default_factory=dict, description="raw librdkafka settings merged last (JSON object)"
    )

    def common_config(self) -> dict[str, Any]:
        """Settings shared by producers, consumers and admin clients."""
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap}
        if self.security_protocol:
            conf["security.protocol"] = self.security_protocol
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        return conf
