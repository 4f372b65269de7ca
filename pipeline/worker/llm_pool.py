"""Several LLM clients behind one ``complete``: each request goes to the least busy client.

The openai SDK's HTTP connection pool (httpcore) gets slower per request as it grows (its
request-to-connection assignment scans the whole pool), so hundreds of requests in flight
through one client cost several times the CPU of the same load over a few smaller pools.
A worker with concurrency C uses ceil(C / connections_per_client) clients.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from pipeline.llm.attempt import Completion
from pipeline.llm.client import LLMClient
from pipeline.llm.settings import LLMSettings
from pipeline.llm.transport import httpx_module


def http_client(kind: str, settings: LLMSettings) -> Any:
    """None (the LLM client's default httpx stack) or the openai SDK's aiohttp-backed client
    (``openai.DefaultAioHttpClient``, vendored by the SDK), with a pool of the client's size."""
    if kind == "httpx":
        return None
    if kind == "aiohttp":
        import openai

        httpx = httpx_module()
        n = settings.max_connections
        return openai.DefaultAioHttpClient(
            timeout=settings.timeout_s,
            limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
        )
    raise ValueError(f"unknown llm_http {kind!r}")


class LLMPool:
    def __init__(self, clients: list[Any]) -> None:
        if not clients:
            raise ValueError("LLMPool needs at least one client")
        self.clients = clients
        self.busy = [0] * len(clients)

    @classmethod
    def create(cls, settings: LLMSettings, *, concurrency: int, connections_per_client: int,
               http: str = "httpx", factory: Callable[..., Any] = LLMClient) -> LLMPool:
        n = max(1, math.ceil(concurrency / max(1, connections_per_client)))
        per = math.ceil(concurrency / n)
        client_settings = settings.model_copy(update={"max_connections": per})
        return cls([factory(client_settings, http_client=http_client(http, client_settings))
                    for _ in range(n)])

    async def complete(self, prompt: str, *, reference: str | None = None,
                       max_tokens: int | None = None) -> Completion:
        i = min(range(len(self.busy)), key=self.busy.__getitem__)
        self.busy[i] += 1
        try:
            return await self.clients[i].complete(prompt, reference=reference,
                                                  max_tokens=max_tokens)
        finally:
            self.busy[i] -= 1

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    async def __aenter__(self) -> LLMPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
