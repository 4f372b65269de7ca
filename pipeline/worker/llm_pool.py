"""Several LLM clients behind one ``complete``: each request goes to the least busy client.

The openai SDK's HTTP connection pool (httpcore) gets slower per request as it grows (its
request-to-connection assignment scans the whole pool), so hundreds of requests in flight
through one client cost several times the CPU of the same load over a few smaller pools.
A worker with concurrency C uses ceil(C / connections_per_client) clients, of the kind
``LLMSettings.transport`` names (:func:`pipeline.llm.client.make_llm_client`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from pipeline.llm.allowlist import BaseUrlAllowlist, normalise
from pipeline.llm.attempt import Completion
from pipeline.llm.client import make_llm_client
from pipeline.llm.settings import LLMSettings
from pipeline.llm.transport import httpx_module

log = logging.getLogger(__name__)


def http_client(kind: str, settings: LLMSettings) -> Any:
    """The HTTP client under the openai SDK (transport ``openai`` only): None (the SDK's default
    httpx stack) or its aiohttp-backed client (``openai.DefaultAioHttpClient``), with a pool of
    the client's size."""
    if kind == "httpx" or settings.transport != "openai":
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
               http: str = "httpx", factory: Callable[..., Any] = make_llm_client) -> LLMPool:
        n = max(1, math.ceil(concurrency / max(1, connections_per_client)))
        per = math.ceil(concurrency / n)
        client_settings = settings.model_copy(update={"max_connections": per})
        return cls([factory(client_settings, http_client=http_client(http, client_settings))
                    for _ in range(n)])

    async def complete(self, prompt: str, *, reference: str | None = None,
                       max_tokens: int | None = None, model: str | None = None,
                       timeout_s: float | None = None) -> Completion:
        busy = self.busy
        i = busy.index(min(busy))
        busy[i] += 1
        try:
            return await self.clients[i].complete(prompt, reference=reference, max_tokens=max_tokens,
                                                  model=model, timeout_s=timeout_s)
        finally:
            self.busy[i] -= 1

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    async def __aenter__(self) -> LLMPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class LLMEndpoints:
    """The worker's LLM: one :class:`LLMPool` per endpoint. Its own endpoint
    (``HARNESS_LLM_BASE_URL``) is opened at once; an endpoint a record names (``policy.llm.base_url``,
    from an experiment with ``llm.backend: openai``) is opened on first use, with the same settings
    (API key, transport, pool size). So one running worker serves experiments against the
    simulator and against a real endpoint without a restart.

    The API key goes with every request, so a record's endpoint must be on the allowlist fixed
    at start (``settings.allowlist()``: the own base URL and ``HARNESS_LLM_ALLOWED_BASE_URLS``);
    any other raises :class:`~pipeline.llm.allowlist.BaseUrlNotAllowed` before a pool is opened. Pools are keyed, and
    opened, by the normalised URL, so the request goes exactly where the check looked."""

    def __init__(self, settings: LLMSettings, make_pool: Callable[[LLMSettings], LLMPool],
                 allowlist: BaseUrlAllowlist | None = None) -> None:
        self.settings = settings
        self.allowlist = allowlist or settings.allowlist()
        self._make_pool = make_pool
        self._own = str(normalise(settings.base_url))
        self.pools: dict[str, LLMPool] = {self._own: make_pool(settings)}
        log.info("LLM endpoints a record may name: %s", self.allowlist)

    def pool(self, base_url: str | None = None) -> LLMPool:
        """The pool of ``base_url`` (None: the worker's own); raises ``BaseUrlNotAllowed``
        for a URL off the allowlist."""
        key = self._own if not base_url else str(self.allowlist.check(base_url))
        pool = self.pools.get(key)
        if pool is None:
            log.info("opening a connection pool to LLM endpoint %s", key)
            pool = self.pools[key] = self._make_pool(self.settings.model_copy(update={"base_url": key}))
        return pool

    async def complete(self, prompt: str, *, base_url: str | None = None, **params: Any) -> Completion:
        return await self.pool(base_url).complete(prompt, **params)

    async def aclose(self) -> None:
        for pool in self.pools.values():
            await pool.aclose()

    async def __aenter__(self) -> LLMEndpoints:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
