"""One LLM worker's sustained questions/s: 1 s simulated latency, 500 requests in flight.

Target (issue 4): at least 400 questions/s, i.e. bounded by concurrency (500 in flight / 1 s =
500/s ceiling), not by the worker. The questions are produced to a private qa.questions topic
first; then ONE worker process (``harness worker``, concurrency 500) works through them while
this script samples its /health counters. Reported: sustained answers/s over the steady window
(warm-up cut), the ratio to the target and to the concurrency ceiling, and the worker's CPU time
per question (from /proc), which tells its capacity on one free core whatever else runs here.

Backends:
  sim   the LLM simulator as a separate process (the real HTTP path through the LLM client of
        ``--transport``: direct = one aiohttp POST per attempt, the workers' default; openai =
        the official SDK; ``both`` runs the two one after the other and prints the ratio);
  stub  an in-process LLM that sleeps 1 s (no HTTP): the worker's own ceiling (Kafka, envelope,
        events, offsets) without the LLM client's cost.

    .state/venv/bin/python bench/bench_worker.py [--backend sim|stub] [--transport direct|openai|both]
                                                 [--duration 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from pipeline.datasets import synthesize
from pipeline.events.emitter import EventEmitter
from pipeline.kafka.admin import delete_topics, ensure_topics
from pipeline.kafka.aio import AsyncProducer
from pipeline.kafka.clients import make_admin, make_consumer, make_producer
from pipeline.kafka.health import Heartbeat
from pipeline.kafka.produce import produce
from pipeline.kafka.settings import KafkaSettings
from pipeline.llm.attempt import Completion, LLMAttempt
from pipeline.llm.sim.runner import SimulatorAdmin, SimulatorProcess
from pipeline.messages import Envelope, ExperimentPolicy, encode
from pipeline.topics import load_topics
from pipeline.worker.policies import PolicyCache
from pipeline.worker.processor import RecordProcessor
from pipeline.worker.routing import RoutingConfig
from pipeline.worker.service import WorkerService
from pipeline.worker.settings import WorkerSettings

REPO = Path(__file__).resolve().parent.parent
TARGET = 400.0
LATENCY_S = 1.0
IN_FLIGHT = 500


def produce_questions(kafka: KafkaSettings, topic: str, n: int, experiment: str) -> None:
    producer = make_producer(kafka, "bench-load", **{"linger.ms": 20})
    policy = ExperimentPolicy(retry={"kind": "exponential_jitter", "max_attempts": 3})
    now = time.time()
    for seq, q in enumerate(synthesize(n, seed=5)):
        env = Envelope(experiment_id=experiment, send_seq=seq, policy=policy, intended_at=now,
                       created_at=now, **q.envelope_fields())
        produce(producer, topic, encode(env), env.kafka_key())
    assert producer.flush(60) == 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def health(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return json.loads(resp.read())


class StubLLM:
    """Sleeps ``latency_s`` per call and answers (no HTTP)."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s

    async def complete(self, prompt: str, *, reference: str | None = None,
                       max_tokens: int | None = None, model: str | None = None,
                       timeout_s: float | None = None, base_url: str | None = None) -> Completion:
        start = time.time()
        await asyncio.sleep(self.latency_s)
        return Completion("a stub answer of a few words", "stub", "stop",
                          LLMAttempt(start, time.time(), 200, None))


def run_stub_worker(kafka: KafkaSettings, topics, settings: WorkerSettings, heartbeat: Heartbeat,
                    stop: threading.Event) -> None:
    async def main() -> None:
        emitter = EventEmitter.create(kafka, topics.events.name, stage="worker")
        processor = RecordProcessor(StubLLM(LATENCY_S), PolicyCache(RoutingConfig()), topics,
                                    emitter, concurrency=settings.concurrency)
        producer = AsyncProducer(make_producer(kafka, "bench-worker")).start()
        consumer = make_consumer(kafka, settings.group_id, "bench-worker")
        service = WorkerService(consumer, producer, processor, topics, emitter,
                                settings=settings, heartbeat=heartbeat)
        stop_event = asyncio.Event()
        loop = asyncio.get_running_loop()
        threading.Thread(target=lambda: (stop.wait(), loop.call_soon_threadsafe(stop_event.set)),
                         daemon=True).start()
        await service.run(stop_event)

    import uvloop
    uvloop.run(main())


@dataclass
class Measured:
    transport: str
    answered: float
    seconds: float
    cpu_per_question_s: float

    @property
    def rate(self) -> float:
        return self.answered / self.seconds


def measure(args: argparse.Namespace, kafka: KafkaSettings, transport: str) -> Measured:
    """Produce the questions to private topics, run one worker through them, sample its counters."""
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    topics = load_topics(prefix=prefix)
    admin = make_admin(kafka)
    ensure_topics(admin, topics)
    n = int((args.duration + args.warmup + 5) * args.concurrency / LATENCY_S * 1.1)
    experiment = f"bench-worker-{uuid.uuid4().hex[:6]}"
    print(f"producing {n} questions to {topics.questions.name} ...", flush=True)
    produce_questions(kafka, topics.questions.name, n, experiment)

    sim = proc = None
    stop = threading.Event()
    heartbeat = Heartbeat("bench-worker")
    worker_pid = os.getpid()
    log_path = Path(tempfile.gettempdir()) / f"{prefix}worker.log"
    try:
        if args.backend == "sim":
            sim = SimulatorProcess(profile="instant", extra_args=()).start()
            SimulatorAdmin(sim.url).set_profile({"name": "instant", "latency": {"fixed_s": LATENCY_S}})
            port = 18100 + os.getpid() % 500
            env = {**os.environ, "HARNESS_KAFKA_BOOTSTRAP": kafka.bootstrap,
                   "HARNESS_TOPIC_PREFIX": prefix, "HARNESS_LLM_BASE_URL": sim.base_url,
                   "HARNESS_LLM_TRANSPORT": transport,
                   "HARNESS_WORKER_CONCURRENCY": str(args.concurrency),
                   "HARNESS_WORKER_MAX_PENDING": str(2 * args.concurrency),
                   "HARNESS_WORKER_HEALTH_PORT": str(port)}
            with open(log_path, "w") as out:
                proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "worker"],
                                        env=env, stdout=out, stderr=out, cwd=REPO)
            worker_pid = proc.pid
            url = f"http://127.0.0.1:{port}/health"

            def answered() -> float:
                try:
                    return float(health(url)["counters"].get("answer", 0))
                except OSError:
                    return 0.0
        else:
            settings = WorkerSettings(group_id=f"{prefix}workers", concurrency=args.concurrency,
                                      max_pending=2 * args.concurrency, health_port=0)
            threading.Thread(target=run_stub_worker, daemon=True,
                             args=(kafka, topics, settings, heartbeat, stop)).start()

            def answered() -> float:
                return float(heartbeat.counters.get("answer", 0))

        deadline = time.monotonic() + 120
        while answered() == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(args.warmup)
        a0, t0, c0 = answered(), time.monotonic(), cpu_seconds(worker_pid)
        time.sleep(args.duration)
        a1, t1, c1 = answered(), time.monotonic(), cpu_seconds(worker_pid)
    finally:
        stop.set()
        if proc is not None:
            proc.terminate()
            proc.wait(90)
        if sim is not None:
            sim.stop()
        delete_topics(admin, topics.names())
    return Measured(transport, a1 - a0, t1 - t0, (c1 - c0) / max(1.0, a1 - a0))


def report(args: argparse.Namespace, m: Measured) -> None:
    ceiling = args.concurrency / LATENCY_S
    what = (f"simulator process, LLM client over HTTP, transport {m.transport}" if args.backend == "sim"
            else "in-process stub, no HTTP")
    print(f"backend             {args.backend} ({what})")
    print(f"latency, in flight  {LATENCY_S:.1f} s, {args.concurrency} requests (ceiling {ceiling:.0f}/s)")
    print(f"answered            {m.answered:.0f} in {m.seconds:.1f} s after {args.warmup:.0f} s warm-up")
    print(f"sustained           {m.rate:.0f} questions/s   target {TARGET:.0f}/s   ratio {m.rate / TARGET:.2f}x"
          f"   of ceiling {m.rate / ceiling:.2f}x")
    cpu = m.cpu_per_question_s
    print(f"worker CPU          {cpu * 1000:.2f} ms/question -> {1 / cpu if cpu else 0:.0f}"
          f" questions/s on one free core{' (bench process, includes this script)' if args.backend == 'stub' else ''}")
    print(f"machine load        {os.getloadavg()[0]:.1f} (1-min load average on {os.cpu_count()} cores)",
          flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sim", "stub"), default="sim")
    parser.add_argument("--transport", choices=("direct", "openai", "both"), default="direct",
                        help="the workers' LLM client (backend sim)")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=IN_FLIGHT)
    args = parser.parse_args()

    kafka = KafkaSettings()
    transports = ("direct", "openai") if args.transport == "both" else (args.transport,)
    results = []
    for transport in transports if args.backend == "sim" else ("stub",):
        results.append(measure(args, kafka, transport))
        report(args, results[-1])
    if len(results) == 2:
        direct, sdk = results
        print(f"direct vs openai    {direct.rate / sdk.rate:.2f}x questions/s, "
              f"{direct.cpu_per_question_s / sdk.cpu_per_question_s:.2f}x CPU per question")
    return 0


if __name__ == "__main__":
    sys.exit(main())
