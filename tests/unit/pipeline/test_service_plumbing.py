"""Small service plumbing: the health endpoint, the event emitter's drops, the supervised
services, scoped consumer groups."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from foundation.layout import Layout
from foundation.settings import StackSettings
from harness.stack import pipeline_services
from harness.stack.endpoints import Endpoints
from pipeline.events.emitter import EventEmitter
from pipeline.kafka.clients import scoped_group_id
from pipeline.kafka.health import HealthServer, Heartbeat
from pipeline.messages import Event


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_health_turns_503_when_the_loop_stops_beating() -> None:
    clock = FakeClock()
    beat = Heartbeat("svc", clock=clock)
    beat.count("records", 3)
    with HealthServer(beat, port=0, stale_after_s=10) as server:
        status, body = _get(server.url)
        assert status == 200 and body["counters"] == {"records": 3} and body["service"] == "svc"
        clock.now = 11.0
        status, body = _get(server.url)
        assert status == 503 and body["status"] == "stalled"
        beat.beat()
        assert _get(server.url)[0] == 200


class FullProducer:
    def __init__(self) -> None:
        self.polls = 0

    def produce(self, *args, **kwargs) -> None:
        raise BufferError("queue full")

    def poll(self, timeout: float = 0) -> int:
        self.polls += 1
        return 0

    def flush(self, timeout: float = 0) -> int:
        return 0


def test_emitter_drops_and_counts_when_its_queue_is_full(caplog) -> None:
    producer = FullProducer()
    emitter = EventEmitter(producer, "qa.events", stage="worker", drop_log_interval_s=60)
    event = Event(experiment_id="e", stage="worker", kind="hop", ts=1.0)
    assert [emitter.emit(event) for _ in range(5)] == [False] * 5  # never blocks, never raises
    assert emitter.dropped == 5 and emitter.sent == 0 and producer.polls == 5
    assert sum("event dropped" in r.getMessage() for r in caplog.records) == 1  # rate-limited


def test_supervised_services_and_their_probes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_WORKER_COUNT", "2")
    layout = Layout(home=tmp_path)
    endpoints = Endpoints("k:9092", "postgresql://x", "http://f", "http://a", "sqlite://", "u", "p")
    services = pipeline_services.services(StackSettings(home=tmp_path), layout, endpoints)
    names = [s.name for s in services]
    assert names == ["llm-simulator", "retry-relay", "storage", "events-sink", "worker-0", "worker-1"]
    for s in services:
        assert s.phase == 3 and s.group == "pipeline"
        assert s.command[0] == str(tmp_path / "venv" / "bin" / "harness")
        assert s.env["HARNESS_KAFKA_BOOTSTRAP"] == "k:9092"
    assert services[5].command[1:] == ["worker", "--index", "1"]
    assert services[5].url == "http://127.0.0.1:8101"


@pytest.mark.parametrize(("group", "prefix", "expected"), [
    ("qa-workers", "", "qa-workers"),
    ("qa-workers", "t1.", "t1.qa-workers"),
    ("t1.qa-workers", "t1.", "t1.qa-workers"),
])
def test_consumer_groups_are_scoped_by_the_topic_prefix(group, prefix, expected) -> None:
    assert scoped_group_id(group, prefix) == expected


def test_llm_pool_spreads_requests_over_small_clients() -> None:
    import asyncio

    from pipeline.llm.settings import LLMSettings
    from pipeline.worker.llm_pool import LLMPool

    made: list[FakeLLM] = []

    class FakeLLM:
        def __init__(self, settings: LLMSettings, http_client: object = None) -> None:
            self.max_connections = settings.max_connections
            self.in_flight = self.peak = 0
            made.append(self)

        async def complete(self, prompt: str, **kw: object) -> str:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            await asyncio.sleep(0)
            self.in_flight -= 1
            return prompt

        async def aclose(self) -> None:
            pass

    pool = LLMPool.create(LLMSettings(), concurrency=100, connections_per_client=25,
                          factory=FakeLLM)
    assert len(made) == 4 and {c.max_connections for c in made} == {25}

    async def burst() -> list[str]:
        async with pool:
            return await asyncio.gather(*[pool.complete(str(i)) for i in range(100)])

    assert asyncio.run(burst()) == [str(i) for i in range(100)]
    assert {c.peak for c in made} == {25}  # least busy first: an even spread


def test_llm_endpoints_open_one_pool_per_base_url_on_first_use() -> None:
    import asyncio

    from pipeline.llm.settings import LLMSettings
    from pipeline.worker.llm_pool import LLMEndpoints

    class FakePool:
        def __init__(self, settings: LLMSettings) -> None:
            self.settings, self.calls, self.closed = settings, [], False

        async def complete(self, prompt: str, **params: object) -> str:
            self.calls.append((prompt, params))
            return self.settings.base_url

        async def aclose(self) -> None:
            self.closed = True

    own = LLMSettings(base_url="http://127.0.0.1:8000/v1", model="sim-gpt",
                      allowed_base_urls=["http://vllm.local:9000/v1"])
    endpoints = LLMEndpoints(own, FakePool)  # type: ignore[arg-type]

    async def calls() -> list[str]:
        async with endpoints:
            return [await endpoints.complete("a"),
                    await endpoints.complete("b", base_url="http://vllm.local:9000/v1/", model="m"),
                    await endpoints.complete("c", base_url="http://127.0.0.1:8000/v1")]

    assert asyncio.run(calls()) == ["http://127.0.0.1:8000/v1", "http://vllm.local:9000/v1",
                                    "http://127.0.0.1:8000/v1"]
    assert list(endpoints.pools) == ["http://127.0.0.1:8000/v1", "http://vllm.local:9000/v1"]
    remote = endpoints.pools["http://vllm.local:9000/v1"]
    assert remote.calls == [("b", {"model": "m"})]  # base_url is the router's, not the client's
    assert remote.settings.api_key == own.api_key and remote.settings.model == "sim-gpt"
    assert all(p.closed for p in endpoints.pools.values())
