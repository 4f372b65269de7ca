"""What every LLM client shares, whatever carries its HTTP: the request it builds, the attempt
record it keeps, and how it turns a response into a :class:`Completion` or a classified
:class:`LLMCallError`.

Two clients implement :meth:`ChatClient._exchange` (the HTTP exchange) under this one
:meth:`ChatClient.complete`: :class:`pipeline.llm.client.LLMClient`
(the official openai SDK, retries off) and :class:`pipeline.llm.direct.DirectLLMClient` (one POST
on aiohttp). Because both end in :meth:`ChatClient._status_failure` and
:meth:`ChatClient._completion`, an outcome is classified and recorded the same way by either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pipeline.llm.allowlist import redact
from pipeline.llm.attempt import Completion, LLMAttempt, LLMCallError
from pipeline.llm.classify import classify_response
from pipeline.llm.headers import headers_of_interest
from pipeline.llm.reference import REFERENCE_HEADER, encode_reference
from pipeline.llm.settings import LLMSettings
from pipeline.retry.errors import ErrorClass, Failure

log = logging.getLogger(__name__)

Messages = Sequence[Mapping[str, str]]


def field_of(obj: Any, name: str) -> Any:
    """``obj[name]`` of a JSON object or ``obj.name`` of a parsed model; None if absent."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


class AttemptTimer:
    """The start of one attempt: wall-clock start (for records) and a monotonic start (for latency)."""

    __slots__ = ("_timer", "started_at", "t0")

    def __init__(self, clock: Callable[[], float], timer: Callable[[], float]) -> None:
        self.started_at = clock()
        self._timer = timer
        self.t0 = timer()

    def record(self, status: int | None, response_headers: Mapping[str, str] | None) -> LLMAttempt:
        kept = headers_of_interest(response_headers or {})
        return LLMAttempt(
            started_at=self.started_at,
            ended_at=self.started_at + (self._timer() - self.t0),
            status=status,
            error_class=None,
            headers=kept,
            request_id=kept.get("x-request-id"),
        )


class ChatClient:
    """Settings, request building and outcome handling; subclasses make the HTTP exchange."""

    def __init__(
        self,
        settings: LLMSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.settings = settings or LLMSettings()
        self._clock = clock
        self._timer = timer

    def __repr__(self) -> str:
        base_url = redact(self.settings.base_url)  # no credentials a URL may carry
        return f"{type(self).__name__}(base_url={base_url!r}, model={self.settings.model!r})"

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:  # pragma: no cover - overridden
        pass

    async def complete(
        self,
        prompt: str | Messages,
        *,
        reference: str | None = None,
        max_tokens: int | None = None,
        model: str | None = None,
        timeout_s: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Completion:
        """One chat-completion attempt. Raises :class:`LLMCallError` on any classified failure.

        ``model``, ``max_tokens`` and ``timeout_s`` override the settings for this call."""
        body = self._body(prompt, max_tokens=max_tokens, model=model)
        return await self._exchange(body, self._headers(reference, extra_headers), timeout_s)

    async def _exchange(self, body: dict[str, Any], headers: dict[str, str],
                        timeout_s: float | None) -> Completion:  # pragma: no cover - overridden
        """Send the request (JSON ``body``, extra ``headers``) once; the transport's only job."""
        raise NotImplementedError

    # -- the request --------------------------------------------------------------------------
    def _messages(self, prompt: str | Messages) -> list[dict[str, str]]:
        if isinstance(prompt, str):
            messages = [{"role": "user", "content": prompt}]
            if self.settings.system_prompt:
                messages.insert(0, {"role": "system", "content": self.settings.system_prompt})
            return messages
        return [dict(m) for m in prompt]

    def _body(self, prompt: str | Messages, *, max_tokens: int | None, model: str | None) -> dict[str, Any]:
        """The JSON body of a chat-completions request (model, messages, max_tokens, temperature)."""
        body: dict[str, Any] = {"model": model or self.settings.model, "messages": self._messages(prompt)}
        tokens = max_tokens or self.settings.max_tokens
        if tokens is not None:
            body["max_tokens"] = tokens
        if self.settings.temperature is not None:
            body["temperature"] = self.settings.temperature
        return body

    def _headers(self, reference: str | None, extra_headers: Mapping[str, str] | None) -> dict[str, str]:
        headers = dict(extra_headers or {})
        if reference is not None and self.settings.send_reference:
            headers[REFERENCE_HEADER] = encode_reference(reference)
        return headers

    def _start(self) -> AttemptTimer:
        return AttemptTimer(self._clock, self._timer)

    # -- the outcome --------------------------------------------------------------------------
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

    def _no_response(self, attempt: LLMAttempt, what: str) -> LLMCallError:
        """No response (timeout, refused, reset): overload (docs/errors-and-retries.md#error-classes)."""
        return self._fail(attempt, Failure(ErrorClass.OVERLOAD), what)

    def _status_failure(
        self,
        attempt: LLMAttempt,
        headers: Mapping[str, str],
        *,
        code: Any,
        error_type: Any,
        message: str,
    ) -> LLMCallError:
        """A non-2xx response, classified from its status, error code/type, message and headers."""
        assert attempt.status is not None
        attempt.error_code, attempt.error_type = _optional_str(code), _optional_str(error_type)
        failure = classify_response(
            attempt.status, headers, code=attempt.error_code, error_type=attempt.error_type, message=message
        )
        return self._fail(attempt, failure, message)

    def _bad_completion(self, attempt: LLMAttempt, what: str) -> LLMCallError:
        return self._fail(attempt, Failure(ErrorClass.BAD_COMPLETION, status=attempt.status), what)

    def _completion(self, attempt: LLMAttempt, parsed: Any) -> Completion:
        """The completion in a parsed 2xx body (a JSON object or the SDK's model), or BAD_COMPLETION."""
        choices = field_of(parsed, "choices")
        choice = choices[0] if isinstance(choices, Sequence) and choices else None
        text = field_of(field_of(choice, "message"), "content") if choice is not None else None
        usage = field_of(parsed, "usage")
        if usage is not None:
            attempt.prompt_tokens = _int_or_none(field_of(usage, "prompt_tokens"))
            attempt.completion_tokens = _int_or_none(field_of(usage, "completion_tokens"))
        if not isinstance(text, str) or not text.strip():
            what = "empty completion" if isinstance(text, str) else "no completion in the response"
            raise self._bad_completion(attempt, what)
        log.debug("LLM attempt ok: status=%s latency=%.3fs", attempt.status, attempt.latency_s)
        return Completion(
            text=text,
            model=_optional_str(field_of(parsed, "model")),
            finish_reason=_optional_str(field_of(choice, "finish_reason")),
            attempt=attempt,
            response_id=_optional_str(field_of(parsed, "id")),
        )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
