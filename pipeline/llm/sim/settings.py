"""Settings of the LLM simulator (env prefix ``HARNESS_SIM_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SimulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HARNESS_SIM_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Interface to bind.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port to bind; 0 = any free port.")
    profile: str = Field(default="healthy", description="Fault profile at start (a name from NAMED_PROFILES).")
    seed: int | None = Field(default=None, description="Override the profile's seed.")
    model: str = Field(default="sim-gpt", description="Model id listed at /v1/models.")
    api_key: SecretStr | None = Field(
        default=None, description="If set, requests must carry 'Authorization: Bearer <key>' (else 401)."
    )
    use_uvloop: bool = Field(default=True, description="Run on uvloop when it is installed (faster).")
    shutdown_timeout_s: float = Field(
        default=1.0, ge=0, description="On SIGTERM, grace for requests in flight (simulated hangs) before cancelling."
    )
    max_header_bytes: int = Field(default=16384, ge=1024, description="Largest header (the reference rides in one).")
