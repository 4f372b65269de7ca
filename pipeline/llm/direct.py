"""The LLM client without the SDK: one ``POST {base_url}/chat/completions`` on aiohttp.

Same contract as :class:`pipeline.llm.client.LLMClient` (one attempt per call, a
:class:`Completion` or a classified :class:`LLMCallError`, the same attempt record), and the same
classification code (:class:`pipeline.llm.base.ChatClient`); the unit tests run every canned
response through both clients. What it leaves out is the SDK's request path: building the request
through typed-dict transforms and httpx-style models, and validating the response into pydantic
models. At hundreds of requests in flight that path is most of a worker's CPU; without it a worker
spends 0.4x the CPU per question, 0.9 ms instead of 2.2 ms (``bench/bench_worker.py --transport both``).

The API key is sent as ``Authorization: Bearer``, and is held only in the request headers built
here: it is never logged and never in ``repr``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from pipeline.llm.attempt import Completion
from pipeline.llm.base import ChatClient, field_of
from pipeline.llm.settings import LLMSettings

_ERROR_TEXT_MAX = 300


class DirectLLMClient(ChatClient):
    """``async with DirectLLMClient(settings) as c: await c.complete(...)``.

    ``session`` is the test seam (an ``aiohttp.ClientSession``, e.g. one bound to a local test
    server); by default the client opens its own, with a pool of ``settings.max_connections``,
    on first use (inside the running loop).
    """

    def __init__(
        self,
        settings: LLMSettings | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        super().__init__(settings, clock=clock, timer=timer)
        self._url = self.settings.base_url.rstrip("/") + "/chat/completions"
        self._session = session
        self._owns_session = session is None
        self._base_headers = {
            "Authorization": f"Bearer {self.settings.api_key.get_secret_value()}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            n = self.settings.max_connections
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=n, limit_per_host=n, ttl_dns_cache=300),
                timeout=self._timeout,
                auto_decompress=True,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def _exchange(self, body: dict[str, Any], headers: dict[str, str],
                        timeout_s: float | None) -> Completion:
        data = json.dumps(body).encode()
        headers = {**self._base_headers, **headers}
        timeout = self._timeout if timeout_s is None else aiohttp.ClientTimeout(total=timeout_s)
        session = self._open()

        timer = self._start()
        try:
            async with session.post(self._url, data=data, headers=headers, timeout=timeout,
                                    allow_redirects=False) as response:
                status, response_headers = response.status, response.headers
                content = await response.read()
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors
            raise self._no_response(timer.record(None, None), f"timeout: {exc or 'request timed out'}") from exc
        except aiohttp.ClientError as exc:
            # Refused, reset or dropped connection, or a body cut short: no usable response.
            raise self._no_response(timer.record(None, None),
                                    f"connection error: {type(exc).__name__}: {exc}") from exc

        record = timer.record(status, response_headers)
        try:
            parsed: Any = json.loads(content)
        except ValueError:
            parsed = None
        if not 200 <= status < 300:
            error = field_of(parsed, "error")
            error = error if isinstance(error, Mapping) else (parsed if isinstance(parsed, Mapping) else {})
            text = content[:_ERROR_TEXT_MAX].decode("utf-8", errors="replace")
            message = str(error.get("message") or f"Error code: {status} - {text}")
            raise self._status_failure(record, response_headers, code=error.get("code"),
                                       error_type=error.get("type"), message=message)
        if not isinstance(parsed, Mapping):
            what = "unparseable completion" if parsed is None else "completion is not a JSON object"
            raise self._bad_completion(record, what)
        return self._completion(record, parsed)
