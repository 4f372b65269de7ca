"""Settings of the event emitter (``HARNESS_EVENTS_``) and the event sink (``HARNESS_EVENT_SINK_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from pipeline.kafka.settings import ServiceEnvSettings


class EventSettings(ServiceEnvSettings):
    model_config = SettingsConfigDict(env_prefix="HARNESS_EVENTS_", extra="ignore")

    enabled: bool = Field(default=True, description="False: events are counted and dropped")
    queue_max_messages: int = Field(
        default=200_000, ge=100, description="local producer queue; events beyond it are dropped"
    )
    linger_ms: float = Field(
        default=50.0, ge=0, le=5000, description="batching delay of event sends"
    )
    drop_log_interval_s: float = Field(
        default=10.0, gt=0, description="at most one drop warning per interval"
    )


class EventSinkSettings(ServiceEnvSettings):
    model_config = SettingsConfigDict(env_prefix="HARNESS_EVENT_SINK_", extra="ignore")

    group_id: str = Field(default="qa-event-sink", description="consumer group of the event sink")
    batch_size: int = Field(
        default=2000, ge=1, le=50_000, description="events per database transaction"
    )
    poll_timeout_s: float = Field(
        default=0.2, gt=0, le=10,
        description="how long a batch may fill before its transaction (telemetry is not on any "
        "question's path, so the sink batches for fewer commits)",
    )
    health_host: str = "127.0.0.1"
    health_port: int = Field(
        default=8092, ge=0, le=65535, description="GET /health; 0 = any free port"
    )
