"""The LLM client on the official openai SDK, its retries off; every attempt classified and recorded.

``LLMClient.complete`` makes exactly one HTTP attempt. It returns a :class:`Completion` or raises
:class:`LLMCallError` (a ``ClassifiedError``: ``error_class``, ``retry_after_s``, ``attempt``).
Retrying is the caller's job (the worker's loop, ``pipeline.worker.processor``, or a Kafka retry tier).
:class:`pipeline.llm.direct.DirectLLMClient` is the same contract without the SDK;
:func:`make_llm_client` picks one from ``LLMSettings.transport``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import openai

from pipeline.llm.attempt import Completion
from pipeline.llm.base import ChatClient
from pipeline.llm.settings import LLMSettings
from pipeline.llm.transport import default_http_client


class LLMClient(ChatClient):
    """One client per worker process (it owns a connection pool): ``async with LLMClient() as c``."""

    def __init__(
        self,
        settings: LLMSettings | None = None,
        *,
        http_client: Any = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        super().__init__(settings, clock=clock, timer=timer)
        self._openai = openai.AsyncOpenAI(
            api_key=self.settings.api_key.get_secret_value(),
            base_url=self.settings.base_url,
            timeout=self.settings.timeout_s,
            max_retries=0,
            http_client=http_client or default_http_client(max_connections=self.settings.max_connections),
        )

    async def aclose(self) -> None:
        await self._openai.close()

    async def _exchange(self, body: dict[str, Any], headers: dict[str, str],
                        timeout_s: float | None) -> Completion:
        kwargs: dict[str, Any] = {**body, "extra_headers": headers}
        if timeout_s is not None:
            kwargs["timeout"] = timeout_s

        timer = self._start()
        try:
            raw = await self._openai.chat.completions.with_raw_response.create(**kwargs)
        except openai.APIStatusError as exc:
            body = exc.body if isinstance(exc.body, Mapping) else {}
            message = str(body.get("message") or exc.message)
            record = timer.record(exc.status_code, exc.response.headers)
            raise self._status_failure(
                record, exc.response.headers, code=exc.code, error_type=exc.type, message=message
            ) from exc
        except openai.APITimeoutError as exc:
            raise self._no_response(timer.record(None, None), f"timeout: {exc}") from exc
        except openai.APIConnectionError as exc:
            raise self._no_response(timer.record(None, None), f"connection error: {exc}") from exc
        except openai.APIResponseValidationError as exc:
            record = timer.record(exc.status_code, exc.response.headers)
            raise self._bad_completion(record, f"invalid response: {exc}") from exc

        record = timer.record(raw.status_code, raw.headers)
        try:
            parsed = raw.parse()
        except (ValueError, openai.APIResponseValidationError) as exc:
            # json.JSONDecodeError and pydantic.ValidationError are both ValueErrors.
            raise self._bad_completion(record, f"unparseable completion: {type(exc).__name__}") from exc
        return self._completion(record, parsed)


def make_llm_client(settings: LLMSettings | None = None, *, http_client: Any = None, **kwargs: Any) -> ChatClient:
    """The client ``settings.transport`` names: ``direct`` (aiohttp, no SDK) or ``openai`` (the SDK;
    ``http_client`` is the SDK's HTTP client, ignored by ``direct``)."""
    settings = settings or LLMSettings()
    if settings.transport == "openai":
        return LLMClient(settings, http_client=http_client, **kwargs)
    from pipeline.llm.direct import DirectLLMClient

    return DirectLLMClient(settings, **kwargs)
