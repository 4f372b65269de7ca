"""Settings of the LLM client (env prefix ``HARNESS_LLM_``). The API key is a secret."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class LLMSettings(BaseSettings):
    """Where and how the workers call the LLM. Any OpenAI-compatible endpoint works."""

    model_config = SettingsConfigDict(env_prefix="HARNESS_LLM_", extra="ignore")

    base_url: str = Field(
        default="http://127.0.0.1:8000/v1", description="OpenAI-compatible base URL (the simulator by default)."
    )
    transport: Literal["direct", "openai"] = Field(
        default="direct",
        description="direct: one aiohttp POST per attempt (the workers' default: 0.4x the CPU "
        "per request); openai: the official openai SDK (max_retries=0). Same classification.",
    )
    model: str = Field(default="sim-gpt", description="Model name sent with every request.")
    api_key: SecretStr = Field(
        default=SecretStr("sk-harness-simulator"), description="API key; never logged, never in repr."
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Per-attempt deadline (connect + read), seconds.")
    max_tokens: int | None = Field(default=256, ge=1, description="max_tokens per completion; None = server default.")
    temperature: float | None = Field(default=None, ge=0, le=2, description="Sampling temperature; None = server default.")
    system_prompt: str | None = Field(
        default="Answer the question helpfully and concisely.", description="System message; None = no system message."
    )
    send_reference: bool = Field(
        default=True,
        description="Send the reference answer in the X-Harness-Reference header (for the simulator's "
        "quality model; real providers ignore unknown headers).",
    )
    max_connections: int = Field(default=100, ge=1, description="HTTP connection pool size.")
