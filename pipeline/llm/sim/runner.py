"""Running the simulator: in the current event loop, in a background thread, or as a subprocess;
and probing it (``wait_for_health``) and steering it (``SimulatorAdmin``) with deadlines.

    async with serve_simulator("instant") as sim:        # same event loop (async tests)
        client = LLMClient(LLMSettings(base_url=sim.base_url))

    with SimulatorProcess(profile="flaky") as sim:        # separate process (integration, bench)
        SimulatorAdmin(sim.url).set_profile({"name": "outage"})
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from pipeline.llm.sim.engine import SimEngine
from pipeline.llm.sim.profiles import Profile, resolve_profile
from pipeline.llm.sim.server import Simulator, create_app
from pipeline.llm.sim.settings import SimulatorSettings
from pipeline.retry.clock import Clock
from pipeline.waiting import wait_until

log = logging.getLogger(__name__)

READY_PREFIX = "SIMULATOR_READY "
ProfileSpec = str | Mapping[str, Any] | Profile


class SimulatorStartError(RuntimeError):
    pass


@dataclass
class RunningSimulator:
    url: str
    """Root URL, e.g. ``http://127.0.0.1:8000`` (admin endpoints live under it)."""
    simulator: Simulator
    _runner: web.AppRunner

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as ``base_url``."""
        return f"{self.url}/v1"

    @property
    def engine(self) -> SimEngine:
        return self.simulator.engine

    async def stop(self) -> None:
        await self._runner.cleanup()


def _profile(spec: ProfileSpec, seed: int | None) -> Profile:
    profile = resolve_profile(spec)
    return profile.model_copy(update={"seed": seed}) if seed is not None else profile


async def start_simulator(
    profile: ProfileSpec = "instant",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int | None = None,
    model: str = "sim-gpt",
    api_key: str | None = None,
    clock: Clock = time.monotonic,
    max_header_bytes: int = 16384,
    shutdown_timeout_s: float = 1.0,
) -> RunningSimulator:
    """Start serving in the running event loop; ``port=0`` picks a free port.

    On stop, requests still in flight (e.g. simulated hangs) get ``shutdown_timeout_s`` to finish
    and are then cancelled.
    """
    simulator = Simulator(SimEngine(_profile(profile, seed), clock=clock), model=model, api_key=api_key)
    runner = web.AppRunner(
        create_app(simulator),
        access_log=None,
        max_field_size=max_header_bytes,
        shutdown_timeout=shutdown_timeout_s,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    url = f"http://{bound_host}:{bound_port}"
    log.info("LLM simulator listening on %s (profile %r)", url, simulator.engine.profile.name)
    return RunningSimulator(url, simulator, runner)


@contextlib.asynccontextmanager
async def serve_simulator(profile: ProfileSpec = "instant", **kwargs: Any) -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(profile, **kwargs)
    try:
        yield running
    finally:
        await running.stop()


def _new_loop_factory(use_uvloop: bool) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if not use_uvloop:
        return None
    try:
        import uvloop  # optional speed-up; not a hard dependency
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_simulator(
    settings: SimulatorSettings | None = None,
    profile: ProfileSpec | None = None,
    *,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM (blocking). ``announce(url)`` is called once listening."""
    settings = settings or SimulatorSettings()

    async def main() -> None:
        running = await start_simulator(
            profile if profile is not None else settings.profile,
            host=settings.host,
            port=settings.port,
            seed=settings.seed,
            model=settings.model,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            max_header_bytes=settings.max_header_bytes,
            shutdown_timeout_s=settings.shutdown_timeout_s,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if announce is not None:
            announce(running.url)
        try:
            await stop.wait()
        finally:
            log.info("LLM simulator stopping")
            await running.stop()

    with asyncio.Runner(loop_factory=_new_loop_factory(settings.use_uvloop)) as runner:
        runner.run(main())


def wait_for_health(url: str, *, timeout_s: float = 10.0, interval_s: float = 0.05) -> dict[str, Any]:
    """Probe ``GET {url}/health`` until it answers 200 or the deadline passes."""
    last_error: Exception | None = None

    def healthy() -> dict[str, Any] | None:
        nonlocal last_error
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=max(0.1, min(2.0, timeout_s))) as resp:
                if resp.status == 200:
                    return dict(json.loads(resp.read()))
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last_error = exc
        return None

    return wait_until(healthy, timeout_s, pause_s=interval_s, backoff=1.0, error=SimulatorStartError,
                      what=lambda: f"{url}/health not healthy within {timeout_s}s: {last_error}")


class SimulatorThread:
    """The simulator on its own event loop in a daemon thread (for synchronous tests)."""

    def __init__(self, profile: ProfileSpec = "instant", *, startup_timeout_s: float = 10.0, **kwargs: Any) -> None:
        self._profile, self._kwargs, self._timeout = profile, kwargs, startup_timeout_s
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.running: RunningSimulator | None = None
        self._thread = threading.Thread(target=self._main, name="llm-simulator", daemon=True)

    @property
    def url(self) -> str:
        assert self.running is not None, "simulator not started"
        return self.running.url

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def _main(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                self.running = await start_simulator(self._profile, **self._kwargs)
            except BaseException as exc:
                self._error = exc
                self._ready.set()
                raise
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                await self.running.stop()

        with contextlib.suppress(Exception):  # start errors are re-raised in start()
            asyncio.run(serve())

    def start(self) -> SimulatorThread:
        self._thread.start()
        if not self._ready.wait(self._timeout):
            raise SimulatorStartError(f"simulator thread not ready within {self._timeout}s")
        if self._error is not None:
            raise SimulatorStartError(f"simulator failed to start: {self._error}") from self._error
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class SimulatorProcess:
    """``python -m pipeline.llm.sim`` as a child process on a free port; stopped with SIGTERM."""

    def __init__(
        self,
        profile: str = "instant",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout_s: float = 20.0,
        log_path: Path | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.profile, self.host, self.port = profile, host, port
        self.startup_timeout_s = startup_timeout_s
        self.log_path = log_path
        self.extra_args = extra_args
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self._own_log = False

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def _log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-2000:]

    def start(self) -> SimulatorProcess:
        if self.log_path is None:
            handle, name = tempfile.mkstemp(prefix="llm-sim-", suffix=".log")
            os.close(handle)
            self.log_path = Path(name)
            self._own_log = True
        cmd = [
            sys.executable, "-m", "pipeline.llm.sim",
            "--host", self.host, "--port", str(self.port), "--profile", self.profile, "--announce",
            *self.extra_args,
        ]
        with open(self.log_path, "a") as log_file:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log_file, text=True)
        deadline = time.monotonic() + self.startup_timeout_s
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.proc.poll() is not None:
                    self.stop()
                    raise SimulatorStartError(
                        f"simulator process did not announce readiness within {self.startup_timeout_s}s; "
                        f"log tail:\n{self._log_tail()}"
                    )
                if sel.select(timeout=remaining):
                    line = self.proc.stdout.readline()
                    if line.startswith(READY_PREFIX):
                        self.url = line[len(READY_PREFIX):].strip()
                        break
        try:
            wait_for_health(self.url, timeout_s=max(0.5, deadline - time.monotonic()))
        except BaseException:
            self.stop()  # announced but not healthy in time: no child outlives a failed start
            raise
        return self

    def stop(self, timeout_s: float = 5.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("simulator pid %s ignored SIGTERM; killing it", self.proc.pid)
                self.proc.kill()
                self.proc.wait(timeout_s)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._own_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)  # a start failure already quoted its tail
        return self.proc.returncode

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class SimulatorAdmin:
    """A small synchronous client for the admin endpoints."""

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        if self.url.endswith("/v1"):
            self.url = self.url[: -len("/v1")]
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise ValueError(f"{method} {path} -> {exc.code}: {detail}") from exc

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def profile(self) -> dict[str, Any]:
        return self._call("GET", "/admin/profile")

    def set_profile(self, spec: str | Mapping[str, Any], *, reset_counters: bool = False) -> dict[str, Any]:
        query = "?reset_counters=1" if reset_counters else ""
        return self._call("PUT", f"/admin/profile{query}", spec if isinstance(spec, str) else dict(spec))

    def counters(self) -> dict[str, Any]:
        return self._call("GET", "/admin/counters")

    def reset_counters(self) -> dict[str, Any]:
        return self._call("DELETE", "/admin/counters")

    def outage(self, status: int = 503, duration_s: float | None = None) -> dict[str, Any]:
        """Start an outage now: every request is answered ``status`` (500, 502, 503, 504 or 529)
        until :meth:`end_outage`, a profile switch, or ``duration_s`` seconds (None: no end)."""
        return self._call("POST", "/admin/outage", {"status": status, "duration_s": duration_s})

    def end_outage(self) -> dict[str, Any]:
        """End the outage; returns what it was (``{"active": False}`` if there was none)."""
        return self._call("DELETE", "/admin/outage")

    def outage_state(self) -> dict[str, Any]:
        return self._call("GET", "/admin/outage")

    def hold(self) -> dict[str, Any]:
        """Hold answers: requests wait in their concurrency slot until :meth:`release`."""
        return self._call("POST", "/admin/hold")

    def release(self) -> dict[str, Any]:
        """Release held requests; returns ``{"held": ..., "waiting": n, "queued": n}`` as it was before."""
        return self._call("DELETE", "/admin/hold")

    def hold_state(self) -> dict[str, Any]:
        return self._call("GET", "/admin/hold")
