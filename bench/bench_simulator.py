"""Sustained requests/s of the LLM simulator, driven by a separate load process.

The simulator runs as its own process (``python -m pipeline.llm.sim``, profile ``instant``: the
healthy profile with zero latency); this script is the load process. It keeps ``--concurrency``
requests in flight over keep-alive connections for ``--duration`` seconds after a warm-up, with a
minimal HTTP/1.1 client on asyncio streams (``--client raw``, wrk-style, so the load generator
costs less CPU than the server) or aiohttp (``--client aiohttp``). Figures are cross-checked against
the simulator's own ground-truth counters, and the simulator's CPU time per request is read from
/proc, which tells its capacity on one free core even when other work shares the machine.

    .state/venv/bin/python bench/bench_simulator.py [--duration 5] [--concurrency 64]
    .state/venv/bin/python bench/bench_simulator.py --url http://127.0.0.1:8000   # a running simulator
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from pipeline.llm.reference import REFERENCE_HEADER, encode_reference
from pipeline.llm.sim.runner import SimulatorAdmin, SimulatorProcess

TARGET_RPS = 2000.0
REFERENCE = (
    "Rayleigh scattering: air molecules scatter short blue wavelengths of sunlight far more than "
    "long red ones, so blue light reaches our eyes from every direction of the sky."
)
BODY = json.dumps(
    {
        "model": "sim-gpt",
        "messages": [
            {"role": "system", "content": "Answer the question helpfully and concisely."},
            {"role": "user", "content": "Why is the sky blue? I always wondered about it."},
        ],
        "max_tokens": 256,
    }
).encode()
HEADERS = {
    "Content-Type": "application/json",
    "Authorization": "Bearer sk-bench",
    REFERENCE_HEADER: encode_reference(REFERENCE),
}


class Tally:
    def __init__(self, measure_from: float, stop_at: float) -> None:
        self.measure_from, self.stop_at = measure_from, stop_at
        self.latencies: list[float] = []
        self.by_status: dict[int, int] = {}

    def add(self, t0: float, t1: float, status: int) -> None:
        if t0 >= self.measure_from:
            self.latencies.append(t1 - t0)
            self.by_status[status] = self.by_status.get(status, 0) + 1


async def raw_worker(host: str, port: int, tally: Tally) -> None:
    """One keep-alive connection, one request at a time (no pipelining)."""
    reader, writer = await asyncio.open_connection(host, port)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    head = "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\n{head}"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY
    try:
        while True:
            t0 = time.perf_counter()
            if t0 >= tally.stop_at:
                return
            writer.write(request)
            header = await reader.readuntil(b"\r\n\r\n")
            status = int(header[9:12])
            lower = header.lower()
            i = lower.index(b"content-length:") + len(b"content-length:")
            length = int(lower[i : lower.index(b"\r\n", i)])
            await reader.readexactly(length)
            tally.add(t0, time.perf_counter(), status)
    finally:
        writer.close()


async def aiohttp_worker(session: aiohttp.ClientSession, url: str, tally: Tally) -> None:
    while True:
        t0 = time.perf_counter()
        if t0 >= tally.stop_at:
            return
        async with session.post(f"{url}/v1/chat/completions", data=BODY, headers=HEADERS) as resp:
            await resp.read()
            status = resp.status
        tally.add(t0, time.perf_counter(), status)


async def drive(url: str, args: argparse.Namespace) -> tuple[float, Tally]:
    start = time.perf_counter()
    tally = Tally(start + args.warmup, start + args.warmup + args.duration)
    if args.client == "raw":
        parts = urlsplit(url)
        await asyncio.gather(*(raw_worker(parts.hostname or "127.0.0.1", parts.port or 80, tally) for _ in range(args.concurrency)))
    else:
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(aiohttp_worker(session, url, tally) for _ in range(args.concurrency)))
    measured = min(args.duration, time.perf_counter() - tally.measure_from)
    return measured, tally


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of ``pid`` (Linux /proc), or None."""
    stat = Path(f"/proc/{pid}/stat")
    if pid is None or not stat.exists():
        return None
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(url: str, args: argparse.Namespace, server_pid: int | None) -> float:
    admin = SimulatorAdmin(url)
    admin.set_profile({"name": "instant"}, reset_counters=True)
    cpu_before = cpu_seconds(server_pid)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        measured, tally = runner.run(drive(url, args))
    cpu_after = cpu_seconds(server_pid)
    server = admin.counters()
    done = sum(tally.by_status.values())
    rps = done / measured
    lat = tally.latencies
    print(f"simulator           {url} (profile instant: healthy, zero latency; {args.server_loop} loop)")
    print(f"load                {args.client} client, {args.concurrency} keep-alive connections, {args.duration:g}s after {args.warmup:g}s warm-up")
    print(f"responses           {done} in {measured:.2f}s, by status {tally.by_status}")
    print(f"server counted      {server['total']} requests incl. warm-up, by outcome {server['by_outcome']}")
    print(f"latency (client)    p50 {pct(lat, 0.5) * 1000:.2f} ms  p99 {pct(lat, 0.99) * 1000:.2f} ms  mean {statistics.fmean(lat) * 1000:.2f} ms")
    if cpu_before is not None and cpu_after is not None and server["total"]:
        per_req = (cpu_after - cpu_before) / server["total"]
        print(f"server CPU          {per_req * 1e6:.0f} us/request -> {1 / per_req:,.0f} req/s on one free core")
    print(f"sustained           {rps:,.0f} req/s   target {TARGET_RPS:,.0f} req/s   ratio {rps / TARGET_RPS:.2f}x")
    return rps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--client", choices=("raw", "aiohttp"), default="raw")
    parser.add_argument("--url", help="bench an already running simulator instead of starting one")
    parser.add_argument("--no-uvloop", action="store_true", help="run the simulator on the stock asyncio loop")
    args = parser.parse_args()
    args.server_loop = "asyncio" if args.no_uvloop else "uvloop if installed"
    if args.url:
        args.server_loop = "unknown"
        rps = run(args.url.rstrip("/"), args, None)
    else:
        extra = ("--no-uvloop",) if args.no_uvloop else ()
        with SimulatorProcess("instant", extra_args=extra) as sim:
            rps = run(sim.url, args, sim.proc.pid if sim.proc else None)
    return 0 if rps >= TARGET_RPS else 1


if __name__ == "__main__":
    raise SystemExit(main())
