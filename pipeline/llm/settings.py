"""Settings of the LLM client (env prefix ``HARNESS_LLM_``). The API key is a secret."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pipeline.llm.allowlist import BaseUrlAllowlist, normalise


class LLMSettings(BaseSettings):
    """Where and how the workers call the LLM. Any OpenAI-compatible endpoint works."""

    # hide_input_in_errors: a validation error must not echo an entry with credentials.
    model_config = SettingsConfigDict(env_prefix="HARNESS_LLM_", extra="ignore", hide_input_in_errors=True)

    base_url: str = Field(
        default="http://127.0.0.1:8000/v1", description="OpenAI-compatible base URL (the simulator by default)."
    )
    allowed_base_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated base URLs a record may name (policy.llm.base_url) besides "
        "base_url, which is always allowed; each allows its path and below. The API key goes "
        "to no other URL: a record naming one is dead-lettered. Fixed when the worker starts.",
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

    @field_validator("allowed_base_urls", mode="before")
    @classmethod
    def _split_allowed(cls, value: Any) -> Any:
        """``HARNESS_LLM_ALLOWED_BASE_URLS`` is comma-separated; every entry an http(s) URL."""
        if isinstance(value, str):
            value = [u.strip() for u in value.split(",")]
        if isinstance(value, list | tuple):
            value = [str(u).strip() for u in value if str(u).strip()]
            for url in value:
                normalise(url)  # InvalidBaseUrl (a ValueError, URL redacted) for a bad entry
        return value

    def allowlist(self) -> BaseUrlAllowlist:
        """The base URLs the API key may go to: ``base_url`` and ``allowed_base_urls``."""
        return BaseUrlAllowlist.of(self.base_url, self.allowed_base_urls)
