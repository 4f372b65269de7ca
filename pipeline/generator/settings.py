"""Settings of the traffic generator (``HARNESS_GENERATOR_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from pipeline.kafka.settings import ServiceEnvSettings


class GeneratorSettings(ServiceEnvSettings):
    model_config = SettingsConfigDict(env_prefix="HARNESS_GENERATOR_", extra="ignore")

    cache_scope: Literal["experiment", "global", "off"] = Field(
        default="experiment", description="where the storage check looks for an earlier answer"
    )
    progress_every_s: float = Field(default=5.0, gt=0, description="progress log interval")
    flush_timeout_s: float = Field(
        default=60.0, gt=0, description="wait for acknowledgements at the end"
    )
    start_delay_s: float = Field(
        default=0.05, ge=0, description="schedule starts this long after run_load is called"
    )
    db_retry_s: float = Field(
        default=60.0, ge=0,
        description="how long one cache check retries a lost database connection (a PostgreSQL "
        "restart) before the ask is sent as a cache miss (counted as cache_unavailable)",
    )
    db_probe_every_s: float = Field(
        default=1.0, gt=0,
        description="during a database outage, how often an ask tries the cache again (one "
        "attempt); the asks in between are sent as misses without waiting",
    )
