"""The storage service's rows/s into PostgreSQL.

Two figures:
  service   final answers produced to a private qa.results topic, then the storage service
            (consume -> rows -> one transaction per batch -> offsets committed) drains them;
            rows/s = answers made durable per second, Kafka included;
  database  the same rows written straight with the service's batched upserts (no Kafka).

Every answer carries 3 LLM attempts (so each answer row also writes 3 attempts rows) and a
realistic set of hops. The rows are deleted afterwards.

    .state/venv/bin/python bench/bench_storage.py [--rows 20000] [--batch 500]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid

from pipeline.datasets import synthesize
from pipeline.events.emitter import NullEmitter
from pipeline.kafka.admin import delete_topics, ensure_topics
from pipeline.kafka.clients import make_admin, make_producer
from pipeline.kafka.health import Heartbeat
from pipeline.kafka.loop import Batch
from pipeline.kafka.produce import produce
from pipeline.kafka.records import Coordinates, Decoded
from pipeline.kafka.settings import KafkaSettings
from pipeline.messages import (
    Answer,
    Attempt,
    AttemptStatus,
    Envelope,
    ErrorClass,
    TerminalStatus,
    encode,
)
from pipeline.storage.db import Database
from pipeline.storage.migrate import migrate
from pipeline.storage.service import StorageHandler, build_storage_loop
from pipeline.storage.settings import StorageSettings
from pipeline.topics import load_topics


def answers(n: int, experiment: str) -> list[Envelope]:
    out = []
    t = time.time()
    for q in synthesize(n, seed=9):
        env = Envelope(experiment_id=experiment, intended_at=t, created_at=t,
                       **q.envelope_fields())
        for name, dt in (("generator.sent", 0.0), ("worker.received", 0.01)):
            env.record_hop(name, t + dt)
        env.record_attempt(Attempt(round=0, number=1, status=AttemptStatus.ERROR,
                                   error_class=ErrorClass.OVERLOAD, http_status=503,
                                   started_at=t + 0.02, ended_at=t + 0.5, delay_s=0.1))
        env.record_attempt(Attempt(round=0, number=2, status=AttemptStatus.ERROR,
                                   error_class=ErrorClass.RATE_LIMITED, http_status=429,
                                   started_at=t + 0.6, ended_at=t + 0.7, delay_s=2.0))
        env.record_hop("worker.deferred", t + 0.71)
        env.record_hop("relay.released", t + 2.72)
        env.record_attempt(Attempt(round=0, number=3, status=AttemptStatus.OK,
                                   started_at=t + 2.8, ended_at=t + 3.8))
        env.answer = Answer(text=" ".join(["word"] * 60), model="sim-gpt", completion_tokens=80)
        env.record_hop("worker.answered", t + 3.81)
        env.record_hop("flink.scored", t + 3.9)
        env.score, env.status = 0.72, TerminalStatus.ACCEPTED
        out.append(env)
    return out


def cleanup(db: Database, experiment: str) -> None:
    conn = db.conn()
    with conn, conn.cursor() as cur:
        for table in ("attempts", "answers", "events"):
            cur.execute(f"DELETE FROM {table} WHERE experiment_id = %s", (experiment,))


def count(db: Database, experiment: str) -> int:
    conn = db.conn()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM answers WHERE experiment_id = %s", (experiment,))
        return int(cur.fetchone()[0])


def bench_database(db: Database, envs: list[Envelope], batch_size: int, topics) -> float:
    experiment = envs[0].experiment_id
    handler = StorageHandler(db, topics, NullEmitter())
    t0 = time.perf_counter()
    for i in range(0, len(envs), batch_size):
        chunk = envs[i:i + batch_size]
        batch: Batch = Batch(records=[Decoded(e, Coordinates("bench", 0, i + k), b"")
                                      for k, e in enumerate(chunk)])
        handler(batch)
    elapsed = time.perf_counter() - t0
    assert count(db, experiment) == len(envs)
    return len(envs) / elapsed


def bench_service(db: Database, kafka: KafkaSettings, envs: list[Envelope], batch_size: int
                  ) -> float:
    experiment = envs[0].experiment_id
    prefix = f"benchst{uuid.uuid4().hex[:6]}."
    topics = load_topics(prefix=prefix)
    admin = make_admin(kafka)
    ensure_topics(admin, topics)
    try:
        producer = make_producer(kafka, "bench-storage-load", **{"linger.ms": 20})
        for env in envs:
            produce(producer, topics.results.name, encode(env), env.kafka_key())
        assert producer.flush(60) == 0
        stop = threading.Event()
        with Database(db.settings, application_name="bench-storage") as service_db:
            loop = build_storage_loop(
                kafka=kafka, storage=StorageSettings(group_id=f"{prefix}storage",
                                                     batch_size=batch_size, poll_timeout_s=0.1),
                db=service_db, topics=topics, emitter=NullEmitter(), stop=stop,
                heartbeat=Heartbeat("bench-storage"))
            loop.subscribe()
            done, first_at = 0, None
            deadline = time.monotonic() + 300
            while done < len(envs) and time.monotonic() < deadline:
                n = loop.run_once()
                if n and first_at is None:
                    first_at = time.perf_counter()  # from the first batch (group join excluded)
                done += n
            elapsed = time.perf_counter() - (first_at or time.perf_counter())
            loop.consumer.close()
        assert count(db, experiment) == len(envs)
        return len(envs) / elapsed
    finally:
        delete_topics(admin, topics.names())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    kafka = KafkaSettings()
    topics = load_topics(prefix="")
    with Database(application_name="bench-storage") as db:
        migrate(db.conn())
        exp_db = f"bench-storage-db-{uuid.uuid4().hex[:6]}"
        exp_svc = f"bench-storage-svc-{uuid.uuid4().hex[:6]}"
        try:
            db_rate = bench_database(db, answers(args.rows, exp_db), args.batch, topics)
            svc_rate = bench_service(db, kafka, answers(args.rows, exp_svc), args.batch)
        finally:
            cleanup(db, exp_db)
            cleanup(db, exp_svc)
    print(f"rows                {args.rows} answers (+3 attempts rows each), batch {args.batch}")
    print(f"database            {db_rate:,.0f} answers/s ({db_rate * 4:,.0f} rows/s incl. attempts), "
          "batched upserts, no Kafka")
    print(f"storage service     {svc_rate:,.0f} answers/s from qa.results (consume, upsert, commit)"
          f"   ratio to the database alone {svc_rate / db_rate:.2f}x")
    print(f"machine load        {os.getloadavg()[0]:.1f} (1-min load average on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
