"""A pipeline assembled inside a test: unique topics and consumer groups, the services on
threads (or worker subprocesses), the LLM simulator as a subprocess, and a pass-through scorer.

THE PASS-THROUGH SCORER IS A STAND-IN for the Flink scoring job (not this package's): it turns
every qa.answers record into an accepted qa.results record (score 1.0), so these tests exercise
workers, relay, storage and the event sink without Flink.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Message

from pipeline.events.emitter import EventEmitter
from pipeline.events.settings import EventSinkSettings
from pipeline.events.sink import build_sink_loop
from pipeline.kafka.admin import delete_topics, ensure_topics
from pipeline.kafka.clients import make_admin, make_consumer, make_producer
from pipeline.kafka.health import Heartbeat
from pipeline.kafka.loop import Batch, ConsumeLoop
from pipeline.kafka.settings import KafkaSettings
from pipeline.llm.settings import LLMSettings
from pipeline.messages import Envelope, HopName, TerminalStatus, decode, encode
from pipeline.relay.service import Relay
from pipeline.relay.settings import RelaySettings
from pipeline.storage.db import Database
from pipeline.storage.service import build_storage_loop
from pipeline.storage.settings import DatabaseSettings, StorageSettings
from pipeline.topics import TopicCatalog, load_topics
from pipeline.waiting import WaitTimeout, wait_until
from pipeline.worker.runner import serve_worker
from pipeline.worker.settings import WorkerSettings

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[3]


def wait_for(what: str, predicate: Callable[[], Any], timeout_s: float,
             interval_s: float = 0.2) -> Any:
    """Poll ``predicate`` until truthy or the deadline; returns its value or fails the test."""
    return wait_until(predicate, timeout_s, pause_s=interval_s, backoff=1.0, error=AssertionError,
                      what=f"timed out after {timeout_s}s waiting for {what}")


class PassThroughScorer:
    """STAND-IN for the Flink job: qa.answers -> qa.results, accepted with score 1.0."""

    def __init__(self, producer: Any, results_topic: str) -> None:
        self.producer = producer
        self.results_topic = results_topic

    def __call__(self, batch: Batch[Envelope]) -> None:
        now = time.time()
        for rec in batch.records:
            env = rec.value
            env.record_hop(HopName.FLINK_SCORED.value, now)
            env.score, env.status = 1.0, TerminalStatus.ACCEPTED
            self.producer.produce(self.results_topic, value=encode(env), key=env.kafka_key())
        assert self.producer.flush(30) == 0


@dataclass
class ThreadWorker:
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop | None = None
    stop_event: asyncio.Event | None = None
    error: BaseException | None = None

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.loop is not None and self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(timeout_s)


@dataclass
class PipelineRig:
    kafka: KafkaSettings
    db_settings: DatabaseSettings
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}.")
    topics: TopicCatalog = field(init=False)
    db: Database = field(init=False)
    stops: list[threading.Event] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    workers: list[ThreadWorker] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    relay: Relay | None = None
    heartbeats: dict[str, Heartbeat] = field(default_factory=dict)
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.topics = load_topics(prefix=self.prefix)
        ensure_topics(make_admin(self.kafka), self.topics)
        self.db = Database(self.db_settings, application_name="test-rig", autocommit=True)

    # -- services on threads ------------------------------------------------------------------
    def _thread(self, name: str, target: Callable[[threading.Event], None]) -> threading.Event:
        stop = threading.Event()

        def run() -> None:
            try:
                target(stop)
            except BaseException as exc:
                log.exception("%s crashed", name)
                self.errors.append(exc)

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self.stops.append(stop)
        self.threads.append(thread)
        return stop

    def group(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def start_storage(self) -> None:
        def run(stop: threading.Event) -> None:
            hb = self.heartbeats["storage"] = Heartbeat("storage")
            emitter = EventEmitter.create(self.kafka, self.topics.events.name, stage="storage")
            with Database(self.db_settings, application_name="test-storage") as db:
                build_storage_loop(kafka=self.kafka, storage=StorageSettings(
                    group_id=self.group("storage"), batch_size=500, poll_timeout_s=0.1),
                    db=db, topics=self.topics, emitter=emitter, stop=stop, heartbeat=hb).run()
            emitter.close()
        self._thread("storage", run)

    def start_sink(self) -> None:
        def run(stop: threading.Event) -> None:
            hb = self.heartbeats["sink"] = Heartbeat("sink")
            with Database(self.db_settings, application_name="test-sink") as db:
                build_sink_loop(kafka=self.kafka, sink=EventSinkSettings(
                    group_id=self.group("sink"), poll_timeout_s=0.1),
                    db=db, topics=self.topics, stop=stop, heartbeat=hb).run()
        self._thread("sink", run)

    def start_relay(self) -> None:
        def run(stop: threading.Event) -> None:
            hb = self.heartbeats["relay"] = Heartbeat("relay")
            emitter = EventEmitter.create(self.kafka, self.topics.events.name, stage="relay")
            producer = make_producer(self.kafka, "test-relay")
            consumer = make_consumer(self.kafka, self.group("relay"), "test-relay")
            self.relay = Relay(consumer, producer, self.topics, emitter,
                               settings=RelaySettings(group_id=self.group("relay"), max_wait_s=0.5),
                               stop=stop, heartbeat=hb)
            self.relay.run()
            producer.flush(10)
            emitter.close()
        self._thread("relay", run)

    def start_scorer(self) -> None:
        def run(stop: threading.Event) -> None:
            hb = self.heartbeats["scorer"] = Heartbeat("scorer")
            producer = make_producer(self.kafka, "test-scorer")
            consumer = make_consumer(self.kafka, self.group("scorer"), "test-scorer")
            ConsumeLoop(consumer, [self.topics.answers.name], lambda m: decode(m.value()),
                        PassThroughScorer(producer, self.topics.results.name), stage="scorer",
                        stop=stop, poll_timeout_s=0.1, heartbeat=hb).run()
        self._thread("scorer", run)

    def worker_settings(self, **overrides: Any) -> WorkerSettings:
        values: dict[str, Any] = {"group_id": self.group("workers"), "health_port": 0,
                                  "concurrency": 200, "commit_interval_s": 0.2,
                                  "drain_timeout_s": 20.0}
        values.update(overrides)
        return WorkerSettings(**values)

    def start_worker(self, llm_url: str, index: int = 0, **overrides: Any) -> ThreadWorker:
        handle = ThreadWorker(threading.Thread(name=f"worker-{index}", daemon=True))

        async def main() -> None:
            handle.loop = asyncio.get_running_loop()
            handle.stop_event = asyncio.Event()
            await serve_worker(handle.stop_event, index=index,
                               settings=self.worker_settings(**overrides), kafka=self.kafka,
                               llm=LLMSettings(base_url=llm_url), topics=self.topics, health_port=0)

        def run() -> None:
            try:
                asyncio.run(main())
            except BaseException as exc:
                log.exception("worker %d crashed", index)
                handle.error = exc
                self.errors.append(exc)

        handle.thread = threading.Thread(target=run, name=f"worker-{index}", daemon=True)
        handle.thread.start()
        self.workers.append(handle)
        return handle

    def worker_process(self, llm_url: str, index: int, log_path: Path,
                       env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """``harness worker`` as a child process (for kill -9 tests)."""
        full_env = {
            **os.environ,
            "HARNESS_KAFKA_BOOTSTRAP": self.kafka.bootstrap,
            "HARNESS_TOPIC_PREFIX": self.prefix,
            "HARNESS_WORKER_GROUP_ID": self.group("workers"),
            "HARNESS_WORKER_HEALTH_PORT": "0",
            "HARNESS_WORKER_COMMIT_INTERVAL_S": "0.2",
            "HARNESS_LLM_BASE_URL": llm_url,
            **(env or {}),
        }
        with open(log_path, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "worker", "--index",
                                     str(index)], env=full_env, stdout=out, stderr=out, cwd=REPO)
        self.processes.append(proc)
        return proc

    def start_backend(self) -> None:
        """Storage, event sink, relay and the stand-in scorer."""
        self.start_storage()
        self.start_sink()
        self.start_relay()
        self.start_scorer()

    # -- reading the results ------------------------------------------------------------------
    def query(self, sql: str, params: Any = None) -> list[tuple]:
        with self.db.conn().cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def scalar(self, sql: str, params: Any = None) -> Any:
        return self.query(sql, params)[0][0]

    def wait_terminal(self, experiment_id: str, n: int, timeout_s: float) -> int:
        return wait_for(
            f"{n} terminal answers of {experiment_id}",
            lambda: (c := self.scalar("SELECT count(*) FROM answers WHERE experiment_id = %s "
                                      "AND terminal_state IS NOT NULL", (experiment_id,))) >= n and c,
            timeout_s,
        )

    def produce_raw(self, topic: str, value: bytes | None, key: bytes | None = None) -> None:
        producer = make_producer(self.kafka, "test-raw")
        producer.produce(topic, value=value, key=key)
        assert producer.flush(10) == 0

    def check_alive(self) -> None:
        assert not self.errors, f"a service crashed: {self.errors!r}"
        assert all(t.is_alive() for t in self.threads), "a service thread has stopped"
        assert all(w.thread.is_alive() for w in self.workers), "a worker has stopped"

    # -- teardown -----------------------------------------------------------------------------
    def close(self, experiment_ids: list[str] | None = None) -> None:
        for w in self.workers:
            w.stop()
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        for stop in self.stops:
            stop.set()
        for thread in self.threads:
            thread.join(30)
        for exp in experiment_ids or []:
            for table in ("answers", "attempts", "events"):
                self.query(f"DELETE FROM {table} WHERE experiment_id = %s RETURNING 1", (exp,))
        self.query("DELETE FROM dead_letters WHERE record_topic LIKE %s RETURNING 1",
                   (self.prefix.replace("_", r"\_") + "%",))
        delete_topics(make_admin(self.kafka), self.topics.names())
        self.db.close()


@contextmanager
def pipeline_rig(kafka: KafkaSettings, db_settings: DatabaseSettings,
                 experiment_ids: list[str]) -> Iterator[PipelineRig]:
    rig = PipelineRig(kafka, db_settings)
    try:
        yield rig
    finally:
        rig.close(experiment_ids)


def read_topic(kafka: KafkaSettings, topic: str, *, expect: int, timeout_s: float = 30.0
               ) -> list[Message]:
    """Every record of ``topic`` from the start, until ``expect`` of them arrived."""
    consumer = make_consumer(kafka, f"reader-{uuid.uuid4().hex}", "test-reader")
    consumer.subscribe([topic])
    out: list[Message] = []

    def enough() -> bool:  # consume blocks up to 0.5 s: no pause needed between calls
        out.extend(m for m in consumer.consume(500, 0.5) if m.error() is None)
        return len(out) >= expect

    try:
        with contextlib.suppress(WaitTimeout):  # the caller asserts on what arrived
            wait_until(enough, timeout_s, pause_s=0.0, what=f"{expect} records of {topic}")
    finally:
        consumer.close()
    return out
