"""The HTTP seam of the openai client.

The openai SDK is built on an httpx-family client (``httpx`` in 1.x, ``httpx2`` in newer
releases); :func:`httpx_module` returns whichever one the installed SDK uses, so callers (and unit
tests with a mock transport) never hard-code it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import openai


def httpx_module() -> ModuleType:
    """The httpx-like module whose ``AsyncClient`` the installed openai SDK expects."""
    for cls in openai.DefaultAsyncHttpxClient.__mro__:
        if cls.__name__ == "AsyncClient":
            return importlib.import_module(cls.__module__.split(".")[0])
    return importlib.import_module("httpx")


def default_http_client(*, max_connections: int = 100) -> Any:
    """The SDK's default async HTTP client, with a pool sized for a worker's concurrency."""
    httpx = httpx_module()
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return openai.DefaultAsyncHttpxClient(limits=limits)


def mock_http_client(handler: Callable[[Any], Any]) -> Any:
    """An async HTTP client whose every request is answered by ``handler(request) -> Response``.

    Build responses with ``httpx_module().Response(status, json=..., headers=...)``; raise
    ``httpx_module().ConnectError`` / ``ReadTimeout`` from the handler to simulate network faults.
    """
    httpx = httpx_module()
    return openai.DefaultAsyncHttpxClient(transport=httpx.MockTransport(handler))
