"""The LLM client: the official openai SDK with its retries off; every attempt classified and recorded.

``LLMClient.complete`` makes exactly one HTTP attempt. It returns a :class:`Completion` or raises
:class:`LLMCallError` (a ``ClassifiedError``: ``error_class``, ``retry_after_s``, ``attempt``).
Retrying is the caller's job (``pipeline.retry.call_with_retries`` or a Kafka retry tier).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import openai

from pipeline.llm.attempt import Completion, LLMAttempt, LLMCallError
from pipeline.llm.classify import classify_response
from pipeline.llm.headers import headers_of_interest
from pipeline.llm.reference import REFERENCE_HEADER, encode_reference
from pipeline.llm.settings import LLMSettings
from pipeline.llm.transport import default_http_client
from pipeline.retry.errors import ErrorClass, Failure

log = logging.getLogger(__name__)

Messages = Sequence[Mapping[str, str]]


def _extract(parsed: Any) -> tuple[str | None, str | None, str | None, Any]:
    """(text, finish_reason, model, usage) of a parsed response, tolerating odd shapes."""
    choices = getattr(parsed, "choices", None)
    if not choices:
        return None, None, getattr(parsed, "model", None), getattr(parsed, "usage", None)
    choice = choices[0]
    message = getattr(choice, "message", None)
    text = getattr(message, "content", None)
    return (
        text if isinstance(text, str) else None,
        getattr(choice, "finish_reason", None),
        getattr(parsed, "model", None),
        getattr(parsed, "usage", None),
    )


class LLMClient:
    """One client per worker process (it owns a connection pool): ``async with LLMClient() as c``."""

    def __init__(
        self,
        settings: LLMSettings | None = None,
        *,
        http_client: Any = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.settings = settings or LLMSettings()
        self._clock = clock
        self._timer = timer
        self._openai = openai.AsyncOpenAI(
            api_key=self.settings.api_key.get_secret_value(),
            base_url=self.settings.base_url,
            timeout=self.settings.timeout_s,
            max_retries=0,
            http_client=http_client or default_http_client(max_connections=self.settings.max_connections),
        )

    def __repr__(self) -> str:
        return f"LLMClient(base_url={self.settings.base_url!r}, model={self.settings.model!r})"

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._openai.close()

    def _messages(self, prompt: str | Messages) -> list[dict[str, str]]:
        if isinstance(prompt, str):
            messages = [{"role": "user", "content": prompt}]
            if self.settings.system_prompt:
                messages.insert(0, {"role": "system", "content": self.settings.system_prompt})
            return messages
        return [dict(m) for m in prompt]

    def _fail(self, attempt: LLMAttempt, failure: Failure, message: str) -> LLMCallError:
        attempt.error_class = failure.error_class
        attempt.retry_after_s = failure.retry_after_s
        attempt.message = message[:500]
        log.debug(
            "LLM attempt failed: status=%s class=%s code=%s retry_after=%s latency=%.3fs",
            attempt.status,
            failure.error_class,
            attempt.error_code,
            failure.retry_after_s,
            attempt.latency_s,
        )
        return LLMCallError(f"{failure.error_class}: {message}", failure, attempt)

    async def complete(
        self,
        prompt: str | Messages,
        *,
        reference: str | None = None,
        max_tokens: int | None = None,
        timeout_s: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Completion:
        """One chat-completion attempt. Raises :class:`LLMCallError` on any classified failure."""
        headers = dict(extra_headers or {})
        if reference is not None and self.settings.send_reference:
            headers[REFERENCE_HEADER] = encode_reference(reference)
        kwargs: dict[str, Any] = {
            "model": self.settings.model,
            "messages": self._messages(prompt),
            "extra_headers": headers,
        }
        tokens = max_tokens or self.settings.max_tokens
        if tokens is not None:
            kwargs["max_tokens"] = tokens
        if self.settings.temperature is not None:
            kwargs["temperature"] = self.settings.temperature
        if timeout_s is not None:
            kwargs["timeout"] = timeout_s

        started_at = self._clock()
        t0 = self._timer()

        def attempt(status: int | None, response_headers: Mapping[str, str] | None) -> LLMAttempt:
            kept = headers_of_interest(response_headers or {})
            return LLMAttempt(
                started_at=started_at,
                ended_at=started_at + (self._timer() - t0),
                status=status,
                error_class=None,
                headers=kept,
                request_id=kept.get("x-request-id"),
            )

        try:
            raw = await self._openai.chat.completions.with_raw_response.create(**kwargs)
        except openai.APIStatusError as exc:
            record = attempt(exc.status_code, exc.response.headers)
            body = exc.body if isinstance(exc.body, Mapping) else {}
            message = str(body.get("message") or exc.message)
            record.error_code, record.error_type = exc.code, exc.type
            failure = classify_response(
                exc.status_code, exc.response.headers, code=exc.code, error_type=exc.type, message=message
            )
            raise self._fail(record, failure, message) from exc
        except openai.APITimeoutError as exc:
            record = attempt(None, None)
            raise self._fail(record, Failure(ErrorClass.OVERLOAD), f"timeout: {exc}") from exc
        except openai.APIConnectionError as exc:
            record = attempt(None, None)
            raise self._fail(record, Failure(ErrorClass.OVERLOAD), f"connection error: {exc}") from exc
        except openai.APIResponseValidationError as exc:
            record = attempt(exc.status_code, exc.response.headers)
            failure = Failure(ErrorClass.BAD_COMPLETION, status=exc.status_code)
            raise self._fail(record, failure, f"invalid response: {exc}") from exc

        record = attempt(raw.status_code, raw.headers)
        try:
            parsed = raw.parse()
        except (ValueError, openai.APIResponseValidationError) as exc:
            # json.JSONDecodeError and pydantic.ValidationError are both ValueErrors.
            failure = Failure(ErrorClass.BAD_COMPLETION, status=raw.status_code)
            raise self._fail(record, failure, f"unparseable completion: {type(exc).__name__}") from exc
        text, finish_reason, model, usage = _extract(parsed)
        if usage is not None:
            record.prompt_tokens = getattr(usage, "prompt_tokens", None)
            record.completion_tokens = getattr(usage, "completion_tokens", None)
        if text is None or not text.strip():
            failure = Failure(ErrorClass.BAD_COMPLETION, status=raw.status_code)
            what = "empty completion" if text is not None else "no completion in the response"
            raise self._fail(record, failure, what)
        log.debug("LLM attempt ok: status=%s latency=%.3fs", record.status, record.latency_s)
        return Completion(
            text=text,
            model=model,
            finish_reason=finish_reason,
            attempt=record,
            response_id=getattr(parsed, "id", None),
        )
