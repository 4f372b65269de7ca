"""The LLM layer: the client (one attempt per call), its error classification, and the simulator.

    from pipeline.llm import LLMSettings, make_llm_client

    async with make_llm_client(LLMSettings()) as client:  # DirectLLMClient or LLMClient (the SDK)
        completion = await client.complete("Why is the sky blue?", reference=best_answer)

Retries belong to the worker's loop (``pipeline.worker.processor.RecordProcessor``).

Names are imported lazily, so ``pipeline.llm.sim`` (the simulator process) does not pay for
importing the openai SDK.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "Completion": "pipeline.llm.attempt",
    "LLMAttempt": "pipeline.llm.attempt",
    "LLMCallError": "pipeline.llm.attempt",
    "classify_response": "pipeline.llm.classify",
    "classify_status": "pipeline.llm.classify",
    "LLMClient": "pipeline.llm.client",
    "make_llm_client": "pipeline.llm.client",
    "ChatClient": "pipeline.llm.base",
    "DirectLLMClient": "pipeline.llm.direct",
    "format_duration": "pipeline.llm.headers",
    "parse_duration": "pipeline.llm.headers",
    "parse_ratelimit_reset": "pipeline.llm.headers",
    "parse_retry_after": "pipeline.llm.headers",
    "REFERENCE_HEADER": "pipeline.llm.reference",
    "decode_reference": "pipeline.llm.reference",
    "encode_reference": "pipeline.llm.reference",
    "LLMSettings": "pipeline.llm.settings",
    "httpx_module": "pipeline.llm.transport",
    "mock_http_client": "pipeline.llm.transport",
    "ErrorClass": "pipeline.retry.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline.llm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
