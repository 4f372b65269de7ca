"""The API key goes only to allowed base URLs: a record naming another is dead-lettered at once,
no request leaves the worker, and the key is in no record, dead letter or log line.

The worker's LLM is assembled as in ``serve_worker`` (LLMEndpoints over LLMPools of real
clients), with the openai SDK's HTTP transport replaced by a recording handler: the seam
``LLMPool.create(factory=...)`` injects."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from pipeline.events.emitter import RecordingEmitter
from pipeline.llm import LLMSettings, httpx_module, make_llm_client, mock_http_client
from pipeline.llm.allowlist import BaseUrlNotAllowed
from pipeline.messages import Envelope, ExperimentPolicy, TerminalStatus, encode
from pipeline.retry.clock import FakeClock
from pipeline.topics import load_topics
from pipeline.worker.llm_pool import LLMEndpoints, LLMPool
from pipeline.worker.policies import PolicyCache
from pipeline.worker.processor import RecordProcessor
from pipeline.worker.routing import Action, RoutingConfig

httpx = httpx_module()
SECRET = "sk-allowlist-test-secret-0987654321"
OWN = "http://127.0.0.1:8000/v1"
ALLOWED = "https://llm.allowed.example/v1"
TOPICS = load_topics(prefix="")


def completion() -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "an answer"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}


class Transport:
    """The HTTP transport under every client: records each request, answers 200."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    def __call__(self, request: Any) -> Any:
        self.requests.append(request)
        return httpx.Response(200, json=completion())


def endpoints(transport: Transport) -> LLMEndpoints:
    settings = LLMSettings(base_url=OWN, api_key=SECRET, transport="openai",
                           allowed_base_urls=[ALLOWED])

    def factory(s: LLMSettings, http_client: Any = None) -> Any:
        return make_llm_client(s, http_client=mock_http_client(transport))

    return LLMEndpoints(settings, lambda s: LLMPool.create(
        s, concurrency=4, connections_per_client=4, factory=factory))


def envelope(base_url: str) -> Envelope:
    return Envelope(experiment_id="exp", question_id="q1",
                    question={"title": "Why?", "content": ""}, reference_answer="Because.",
                    intended_at=1000.0, created_at=1000.0,
                    policy=ExperimentPolicy(retry={"kind": "fixed", "base_s": 0.1, "max_attempts": 2},
                                            llm={"base_url": base_url, "model": "gpt-x"}))


def process(env: Envelope, *, check_in_processor: bool = True) -> tuple[Any, Transport, RecordingEmitter]:
    clock = FakeClock(1000.0)
    transport = Transport()
    emitter = RecordingEmitter(stage="worker", clock=clock)

    async def main() -> Any:
        async with endpoints(transport) as llm:
            proc = RecordProcessor(llm, PolicyCache(RoutingConfig(), clock=clock), TOPICS, emitter,
                                   concurrency=4, clock=clock, sleep=clock.sleep,
                                   allowlist=llm.allowlist if check_in_processor else None)
            return await proc.process(env)

    return asyncio.run(main()), transport, emitter


FOREIGN = [
    "https://collector.evil.example/v1",
    "https://me:pw@collector.evil.example/v1?token=x",
    "https://llm.allowed.example/v1/../../steal",
    "https://llm.allowed.example@collector.evil.example/v1",
]


@pytest.mark.parametrize("url", FOREIGN)
def test_a_foreign_base_url_is_dead_lettered_without_a_request(
        url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    outcome, transport, emitter = process(envelope(url))
    assert transport.requests == []
    assert outcome.action is Action.DEAD_LETTER and outcome.topic == TOPICS.dlq.name
    env = outcome.envelope
    assert env.status is TerminalStatus.DEAD_LETTERED and env.attempts == []
    assert env.dlq_reason.startswith("invalid_policy: llm.base_url not allowed: https://")
    assert "pw" not in env.dlq_reason and "token" not in env.dlq_reason
    assert "me:pw" not in caplog.text and "token=x" not in caplog.text
    for text in (caplog.text, env.dlq_reason, encode(env).decode(), repr(emitter.events)):
        assert SECRET not in text


def test_the_reason_names_the_redacted_url() -> None:
    outcome, *_ = process(envelope("https://me:pw@collector.evil.example:8443/v1?token=x"))
    assert outcome.envelope.dlq_reason == (
        "invalid_policy: llm.base_url not allowed: https://collector.evil.example:8443/v1")


@pytest.mark.parametrize("url", [ALLOWED, ALLOWED + "/", "HTTPS://LLM.allowed.example:443/v1", OWN])
def test_an_allowed_base_url_gets_the_request_and_the_key(
        url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    outcome, transport, _ = process(envelope(url))
    assert outcome.action is Action.ANSWER
    [request] = transport.requests
    want = "llm.allowed.example" if "allowed" in url.lower() else "127.0.0.1"
    assert request.url.host == want and request.url.path.endswith("/chat/completions")
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in caplog.text and SECRET not in encode(outcome.envelope).decode()


def test_the_endpoints_refuse_a_foreign_url_even_without_the_processors_check() -> None:
    """Defence in depth: LLMEndpoints itself never opens a pool to a URL off the list."""
    transport = Transport()

    async def main() -> None:
        async with endpoints(transport) as llm:
            with pytest.raises(BaseUrlNotAllowed):
                await llm.complete("q?", base_url="https://collector.evil.example/v1")
            assert list(llm.pools) == [OWN]

    asyncio.run(main())
    assert transport.requests == []
    with pytest.raises(BaseUrlNotAllowed):
        process(envelope("https://collector.evil.example/v1"), check_in_processor=False)


def test_pools_are_opened_on_the_normalised_url() -> None:
    transport = Transport()

    async def main() -> list[str]:
        async with endpoints(transport) as llm:
            await llm.complete("q?", base_url="HTTPS://LLM.allowed.example:443/v1/")
            await llm.complete("q?", base_url=ALLOWED)
            return list(llm.pools)

    assert asyncio.run(main()) == [OWN, ALLOWED]
    assert [str(r.url) for r in transport.requests] == [ALLOWED + "/chat/completions"] * 2
