"""LLMClient over a mock HTTP transport: one attempt per call, every outcome classified and recorded."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pipeline.events.emitter import RecordingEmitter
from pipeline.llm import (
    REFERENCE_HEADER,
    DirectLLMClient,
    ErrorClass,
    LLMCallError,
    LLMClient,
    LLMSettings,
    decode_reference,
    httpx_module,
    make_llm_client,
    mock_http_client,
)
from pipeline.messages import Envelope, ExperimentPolicy
from pipeline.retry import FakeClock
from pipeline.topics import load_topics
from pipeline.worker.policies import PolicyCache
from pipeline.worker.processor import RecordProcessor
from pipeline.worker.routing import Action, RoutingConfig

httpx = httpx_module()
SECRET = "sk-test-very-secret-1234567890"


def completion(text: str | None = "Blue light scatters more.") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "sim-gpt",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }


def error(status: int, code: str | None, error_type: str, headers: dict[str, str] | None = None, message: str = "nope") -> Any:
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return httpx.Response(status, json=body, headers=headers or {})


class Recorder:
    """A transport handler that plays canned responses and keeps the requests it saw."""

    def __init__(self, *responses: Any) -> None:
        self.responses = list(responses)
        self.requests: list[Any] = []

    def __call__(self, request: Any) -> Any:
        self.requests.append(request)
        item = self.responses.pop(0)
        if isinstance(item, BaseException):
            raise item
        if callable(item):
            return item(request)
        return item


class DirectClientOnTestServer:
    """A DirectLLMClient against an in-process aiohttp server that plays the handler's canned
    httpx responses, so the same cases run through both clients. ``httpx.ReadTimeout`` from the
    handler = the server answers after the client's deadline; ``httpx.ConnectError`` = the
    server drops the connection."""

    def __init__(self, handler: Callable[[Any], Any], settings: LLMSettings, **kwargs: Any) -> None:
        self.handler, self.settings, self.kwargs = handler, settings, kwargs
        self.client: DirectLLMClient | None = None
        self.server: Any = None

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        seen = httpx.Request(request.method, str(request.url), headers=dict(request.headers),
                             content=await request.read())
        try:
            response = self.handler(seen)
        except httpx.TimeoutException:
            await asyncio.sleep(self.settings.timeout_s + 1.0)
            return web.Response(status=200)
        except httpx.ConnectError:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=200)
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-encoding")}
        return web.Response(status=response.status_code, body=response.content, headers=headers)

    async def __aenter__(self) -> DirectLLMClient:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._serve)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        settings = self.settings.model_copy(update={"base_url": str(self.server.make_url("/v1"))})
        self.client = DirectLLMClient(settings, **self.kwargs)
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        assert self.client is not None
        await self.client.aclose()
        await self.server.close()

    def __repr__(self) -> str:
        return repr(DirectLLMClient(self.settings))


@pytest.fixture(params=["openai", "direct"])
def make_client(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Both clients, over the same canned responses: the SDK (mock httpx transport) and direct."""

    def make(handler: Callable[[Any], Any], **settings: Any) -> Any:
        ticks = iter(range(1000))
        kwargs: dict[str, Any] = {"clock": lambda: 1000.0, "timer": lambda: float(next(ticks)) * 0.25}
        base = LLMSettings(api_key=SECRET, base_url="http://llm.test/v1", **settings)
        if request.param == "openai":
            return LLMClient(base.model_copy(update={"transport": "openai"}),
                             http_client=mock_http_client(handler), **kwargs)
        return DirectClientOnTestServer(handler, base.model_copy(update={"timeout_s": 0.3}), **kwargs)

    return make


def call(client: Any, *args: Any, **kwargs: Any) -> Any:
    async def main() -> Any:
        async with client as c:
            return await c.complete(*args, **kwargs)

    return asyncio.run(main())


def failure_of(client: Any, **kwargs: Any) -> LLMCallError:
    with pytest.raises(LLMCallError) as info:
        call(client, "q?", **kwargs)
    return info.value


def test_success_records_the_attempt_and_sends_the_reference(make_client: Callable[..., Any]) -> None:
    rec = Recorder(httpx.Response(200, json=completion(), headers={"x-request-id": "req_9", "x-ratelimit-remaining-requests": "41"}))
    result = call(make_client(rec), "Why is the sky blue?", reference="Rayleigh scattering ☀")
    assert result.text == "Blue light scatters more."
    attempt = result.attempt
    assert attempt.ok and attempt.status == 200 and attempt.error_class is None
    assert attempt.request_id == "req_9"
    assert attempt.headers["x-ratelimit-remaining-requests"] == "41"
    assert (attempt.prompt_tokens, attempt.completion_tokens) == (12, 5)
    assert attempt.started_at == 1000.0 and attempt.latency_s == pytest.approx(0.25)
    sent = rec.requests[0]
    assert decode_reference(sent.headers[REFERENCE_HEADER]) == "Rayleigh scattering ☀"
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    body = json.loads(sent.content)
    assert body["model"] == "sim-gpt" and body["max_tokens"] == 256
    assert body["messages"][0]["role"] == "system" and body["messages"][-1] == {"role": "user", "content": "Why is the sky blue?"}


def test_reference_not_sent_when_disabled(make_client: Callable[..., Any]) -> None:
    rec = Recorder(httpx.Response(200, json=completion()))
    call(make_client(rec, send_reference=False), "q?", reference="secret answer")
    assert REFERENCE_HEADER not in rec.requests[0].headers


@pytest.mark.parametrize("status", [500, 502, 503, 504, 529])
def test_server_errors_are_overload_and_never_retried_by_the_sdk(make_client: Callable[..., Any], status: int) -> None:
    rec = Recorder(error(status, None, "server_error", {"retry-after": "2"}), httpx.Response(200, json=completion()))
    exc = failure_of(make_client(rec))
    assert exc.error_class is ErrorClass.OVERLOAD and exc.retry_after_s == 2.0
    assert exc.attempt.status == status and exc.attempt.headers["retry-after"] == "2"
    assert len(rec.requests) == 1  # max_retries=0: the harness owns every retry


def test_rate_limit_with_headers(make_client: Callable[..., Any]) -> None:
    headers = {
        "retry-after": "2",
        "retry-after-ms": "1500",
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1s",
    }
    exc = failure_of(make_client(Recorder(error(429, "rate_limit_exceeded", "requests", headers))))
    assert exc.error_class is ErrorClass.RATE_LIMITED and exc.retry_after_s == 1.5
    assert exc.attempt.error_code == "rate_limit_exceeded" and exc.attempt.error_type == "requests"
    assert exc.attempt.headers == headers


def test_rate_limit_without_retry_after_uses_the_reset_header(make_client: Callable[..., Any]) -> None:
    resp = error(429, "rate_limit_exceeded", "tokens", {"x-ratelimit-reset-tokens": "6m0s", "x-ratelimit-reset-requests": "1s"})
    exc = failure_of(make_client(Recorder(resp)))
    assert exc.retry_after_s == 360.0


def test_insufficient_quota(make_client: Callable[..., Any]) -> None:
    exc = failure_of(make_client(Recorder(error(429, "insufficient_quota", "insufficient_quota", message="You exceeded your current quota"))))
    assert exc.error_class is ErrorClass.QUOTA_EXHAUSTED
    assert "exceeded your current quota" in (exc.attempt.message or "")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_invalid_request(make_client: Callable[..., Any], status: int) -> None:
    exc = failure_of(make_client(Recorder(error(status, None, "invalid_request_error"))))
    assert exc.error_class is ErrorClass.INVALID_REQUEST and exc.attempt.status == status


def test_timeout_is_overload_without_status(make_client: Callable[..., Any]) -> None:
    rec = Recorder(httpx.ReadTimeout("slow"))
    exc = failure_of(make_client(rec))
    assert exc.error_class is ErrorClass.OVERLOAD and exc.attempt.status is None
    assert "timeout" in str(exc)


def test_connect_error_is_overload(make_client: Callable[..., Any]) -> None:
    exc = failure_of(make_client(Recorder(httpx.ConnectError("refused"))))
    assert exc.error_class is ErrorClass.OVERLOAD and exc.attempt.status is None


@pytest.mark.parametrize(
    "response",
    [
        lambda: httpx.Response(200, json=completion("")),
        lambda: httpx.Response(200, json=completion("   ")),
        lambda: httpx.Response(200, json=completion(None)),
        lambda: httpx.Response(200, json={**completion(), "choices": []}),
        lambda: httpx.Response(200, content=b'{"id": "x", "choices": [{"mess', headers={"content-type": "application/json"}),
        lambda: httpx.Response(200, content=b"<html>gateway</html>", headers={"content-type": "text/html"}),
    ],
    ids=["empty", "blank", "null", "no-choices", "truncated-json", "html"],
)
def test_bad_completions(make_client: Callable[..., Any], response: Callable[[], Any]) -> None:
    exc = failure_of(make_client(Recorder(response())))
    assert exc.error_class is ErrorClass.BAD_COMPLETION and exc.attempt.status == 200


def test_api_key_is_never_shown(make_client: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = LLMSettings(api_key=SECRET)
    client = make_client(Recorder(error(503, None, "server_error"), httpx.Response(200, json=completion())))
    assert SECRET not in repr(settings) and SECRET not in str(settings) and SECRET not in repr(client)
    assert SECRET not in settings.model_dump_json()
    with pytest.raises(LLMCallError) as info:
        call(client, "q?")
    assert SECRET not in repr(info.value) and SECRET not in repr(info.value.attempt)
    assert SECRET not in caplog.text


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_LLM_BASE_URL", "http://vllm.local:9000/v1")
    monkeypatch.setenv("HARNESS_LLM_MODEL", "llama-3-8b")
    monkeypatch.setenv("HARNESS_LLM_API_KEY", SECRET)
    monkeypatch.setenv("HARNESS_LLM_TIMEOUT_S", "7.5")
    settings = LLMSettings()
    assert (settings.base_url, settings.model, settings.timeout_s) == ("http://vllm.local:9000/v1", "llama-3-8b", 7.5)
    assert settings.api_key.get_secret_value() == SECRET


def test_the_workers_retry_loop_over_each_client(make_client: Callable[..., Any]) -> None:
    """The loop users run (the worker's RecordProcessor) over a real client: a 503 backs off in
    the worker, a 429 with retry-after-ms is deferred to a tier for the server's 0.7 s, and the
    deferred record's next visit is answered."""
    rec = Recorder(
        error(503, None, "server_error"),
        error(429, "rate_limit_exceeded", "requests", {"retry-after-ms": "700"}),
        httpx.Response(200, json=completion("fine")),
    )
    clock = FakeClock(1000.0)
    env = Envelope(experiment_id="exp", question_id="q1", question={"title": "q?", "content": ""},
                   intended_at=1000.0, created_at=1000.0,
                   policy=ExperimentPolicy(retry={"kind": "fixed", "base_s": 0.5, "max_attempts": 5}))

    async def main() -> tuple[Any, Any]:
        async with make_client(rec) as client:
            proc = RecordProcessor(client, PolicyCache(RoutingConfig(), clock=clock),
                                   load_topics(prefix=""), RecordingEmitter(clock=clock),
                                   concurrency=4, clock=clock, sleep=clock.sleep)
            deferred = await proc.process(env)
            return deferred, await proc.process(deferred.envelope)

    deferred, answered = asyncio.run(main())
    assert deferred.action is Action.DEFER and deferred.topic == "qa.retry.5s"
    assert clock.sleeps == [0.5]  # the 503's backoff; the 429 waits in a tier, not here
    assert answered.action is Action.ANSWER and answered.envelope.answer.text == "fine"
    attempts = answered.envelope.attempts
    assert [a.http_status for a in attempts] == [503, 429, 200]
    assert [a.error_class for a in attempts] == [ErrorClass.OVERLOAD, ErrorClass.RATE_LIMITED, None]
    assert [a.delay_s for a in attempts] == [0.5, pytest.approx(0.7), None]
    assert len(rec.requests) == 3


def test_per_request_model_and_max_tokens(make_client: Callable[..., Any]) -> None:
    rec = Recorder(httpx.Response(200, json=completion()))
    call(make_client(rec), "q?", model="llama-3-8b", max_tokens=7)
    body = json.loads(rec.requests[0].content)
    assert (body["model"], body["max_tokens"]) == ("llama-3-8b", 7)


def test_numeric_error_code_and_error_without_envelope(make_client: Callable[..., Any]) -> None:
    """Some servers send ``code`` as a number, or the error object at the top level."""
    bodies = [{"error": {"message": "slow", "type": "server_error", "code": 503}},
              {"message": "out of quota", "type": "insufficient_quota", "code": "insufficient_quota"}]
    exc = failure_of(make_client(Recorder(httpx.Response(503, json=bodies[0]))))
    assert exc.error_class is ErrorClass.OVERLOAD and exc.attempt.error_code == "503"
    exc = failure_of(make_client(Recorder(httpx.Response(429, json=bodies[1]))))
    assert exc.error_class is ErrorClass.QUOTA_EXHAUSTED


def test_default_transport_is_direct_and_openai_selects_the_sdk() -> None:
    assert isinstance(make_llm_client(LLMSettings()), DirectLLMClient)
    assert isinstance(make_llm_client(LLMSettings(transport="openai")), LLMClient)
    with pytest.raises(ValueError, match="transport"):
        LLMSettings(transport="grpc")
