"""A tiny HTTP health endpoint for a service: ``GET /health`` answers 200 while the service's
loop keeps beating, 503 once it has been silent for too long, with the service's counters.

The supervisor's readiness probe (``harness.stack.probes.http_ok``) reads it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)


class Heartbeat:
    """Progress of a service's main loop plus named counters (thread-safe enough: GIL-atomic)."""

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self.last_beat = clock()
        self.counters: dict[str, float] = {}

    def beat(self) -> None:
        self.last_beat = self._clock()

    def count(self, key: str, n: float = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def age_s(self) -> float:
        return self._clock() - self.last_beat

    def snapshot(self, stale_after_s: float) -> tuple[bool, dict[str, Any]]:
        age = self.age_s()
        healthy = age <= stale_after_s
        return healthy, {
            "service": self.name,
            "status": "ok" if healthy else "stalled",
            "last_beat_age_s": round(age, 3),
            "counters": dict(self.counters),
        }


class HealthServer:
    """Serves ``/health`` from a daemon thread; ``port=0`` picks a free port (see ``.port``)."""

    def __init__(
        self, heartbeat: Heartbeat, *, host: str = "127.0.0.1", port: int = 0,
        stale_after_s: float = 60.0,
    ) -> None:
        beat, stale = heartbeat, stale_after_s

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/health":
                    self.send_error(404)
                    return
                healthy, body = beat.snapshot(stale)
                data = json.dumps(body).encode()
                self.send_response(200 if healthy else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("health: " + format, *args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"health-{heartbeat.name}", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/health"

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("health endpoint on %s", self.url)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
