"""Settings of the LLM workers (``HARNESS_WORKER_``). The routing knobs are defaults: a record's
retry policy may override them (see :mod:`pipeline.worker.policies`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from pipeline.kafka.settings import ServiceEnvSettings


class WorkerSettings(ServiceEnvSettings):
    model_config = SettingsConfigDict(env_prefix="HARNESS_WORKER_", extra="ignore")

    group_id: str = Field(default="qa-workers", description="consumer group shared by every worker")
    count: int = Field(
        default=1, ge=1, le=64, description="worker processes `harness up` supervises"
    )
    concurrency: int = Field(
        default=200, ge=1, le=10_000, description="LLM requests in flight per process"
    )
    connections_per_client: int = Field(
        default=50,
        ge=1,
        description="HTTP connections per LLM client; concurrency / this = clients",
    )
    llm_http: Literal["httpx", "aiohttp"] = Field(
        default="aiohttp",
        description="HTTP stack under the openai SDK: aiohttp (openai.DefaultAioHttpClient, "
        "about 20% less CPU per request than httpx at hundreds in flight) or httpx",
    )
    max_pending: int = Field(
        default=0,
        ge=0,
        description="records in progress per process (backoffs included); 0 = 2 x concurrency",
    )
    consume_batch: int = Field(default=500, ge=1, le=10_000)
    poll_timeout_s: float = Field(default=0.05, gt=0, le=5)
    commit_interval_s: float = Field(
        default=0.5, gt=0, le=60, description="how often offsets are committed"
    )
    drain_timeout_s: float = Field(
        default=60.0, gt=0, description="SIGTERM: longest wait for in-flight work"
    )
    revoke_drain_timeout_s: float = Field(
        default=10.0, ge=0, description="on revocation, wait this long for the partitions' records"
    )
    static_membership: bool = Field(
        default=True,
        description="group.instance.id per worker index: a restarted worker takes its "
        "partitions back at once instead of after the session timeout",
    )

    # routing defaults (docs/errors-and-retries.md#routing)
    in_worker_max_attempts: int = Field(
        default=3,
        ge=1,
        description="attempts per visit before an overloaded call is deferred to a tier",
    )
    in_worker_max_delay_s: float = Field(
        default=5.0,
        ge=0,
        description="overload backoffs longer than this go to a retry tier instead",
    )
    max_deferrals: int = Field(default=10, ge=0, description="hand-offs to retry tiers per round")
    max_quota_deferrals: int = Field(default=3, ge=0, description="quota deferrals before qa.dlq")
    quota_delay_s: float = Field(
        default=30.0, ge=0, description="wait after insufficient_quota (at least)"
    )

    health_host: str = "127.0.0.1"
    health_port: int = Field(
        default=8100, ge=0, le=65535, description="worker i listens on port + i; 0 = any"
    )

    @property
    def pending_limit(self) -> int:
        return self.max_pending or 2 * self.concurrency
