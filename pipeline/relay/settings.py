"""Settings of the retry relay (``HARNESS_RELAY_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from pipeline.kafka.settings import ServiceEnvSettings


class RelaySettings(ServiceEnvSettings):
    model_config = SettingsConfigDict(env_prefix="HARNESS_RELAY_", extra="ignore")

    group_id: str = Field(default="qa-retry-relay", description="consumer group of the relay")
    batch_size: int = Field(default=500, ge=1, le=10_000)
    max_wait_s: float = Field(
        default=1.0, gt=0, le=60, description="longest consume wait when nothing is due sooner"
    )
    health_host: str = "127.0.0.1"
    health_port: int = Field(
        default=8093, ge=0, le=65535, description="GET /health; 0 = any free port"
    )
