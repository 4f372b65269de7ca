"""The load survives a PostgreSQL restart (issue 13, item 5).

Measured before: a restart 50 s into a run raised ``psycopg2.OperationalError`` in the cache
lookup and the load stopped at 832 of about 3,000 questions. Here ``run_load`` sends a short
constant load while the stack's supervisor stops and starts ``postgres``:

* a restart shorter than ``db_retry_s``: the cache checks wait for the database and every question
  is sent, none as an unavailable miss (the sends due meanwhile are late, from their intended time);
* a restart longer than the bound: the load goes on during the outage, sending its asks as cache
  misses counted in ``cache_unavailable``, and every question is sent.

The outage is observed, not slept for: the test waits until the generator has been refused by the
stopped server (or has sent records while it was down), then starts it again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from pipeline_rig import wait_for

from harness.stack import probes
from pipeline.datasets import synthesize
from pipeline.events.emitter import RecordingEmitter
from pipeline.generator.load import LoadSummary, run_load
from pipeline.generator.settings import GeneratorSettings
from pipeline.storage.cache import AnswerCache
from pipeline.storage.db import Database

N = 600
RATE = 20.0  # 30 s of load


class CountingConnect:
    """``psycopg2.connect`` that counts the connections the stopped server refused."""

    def __init__(self) -> None:
        self.refused = 0

    def __call__(self, dsn: str, **kw: Any) -> Any:
        try:
            return psycopg2.connect(dsn, **kw)
        except psycopg2.OperationalError:
            self.refused += 1
            raise


@pytest.fixture
def postgres_restart(stack, db_settings) -> Iterator[tuple[Any, Any]]:
    """``(stop, start)`` of the stack's PostgreSQL; it is running again after the test."""
    if not stack.settings.local_postgres:
        pytest.skip("PostgreSQL is external: the stack cannot restart it")
    ready = probes.postgres(db_settings.dsn.get_secret_value())

    def start() -> None:
        stack.supervisor.start("postgres")
        probes.wait_until("postgres", ready, timeout_s=120)

    try:
        yield (lambda: stack.supervisor.stop("postgres")), start
    finally:
        start()


def _load_in_background(rig, db_settings, exp: str, settings: GeneratorSettings,
                        connect: CountingConnect, emitter: RecordingEmitter,
                        ) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}
    db = Database(db_settings, application_name="test-generator", autocommit=True,
                  connect=connect)
    questions = list({q.id: q for q in synthesize(N + 20, seed=61)}.values())[:N]

    def run() -> None:
        try:
            out["summary"] = run_load(exp, questions, {"kind": "constant", "rate": RATE}, {},
                                      count=N, repeat_share=0.2, seed=3, settings=settings,
                                      kafka=rig.kafka, topics=rig.topics,
                                      cache=AnswerCache(db), emitter=emitter)
        except BaseException as exc:  # the test asserts there was none
            out["error"] = exc
        finally:
            db.close()

    thread = threading.Thread(target=run, name="load", daemon=True)
    thread.start()
    return thread, out


def _sent(emitter: RecordingEmitter) -> int:
    return sum(1 for e in list(emitter.events) if e.attrs.get("hop") == "generator.sent")


def _finish(rig, thread: threading.Thread, out: dict[str, Any]) -> LoadSummary:
    thread.join(180)
    assert not thread.is_alive(), "the load did not finish"
    assert "error" not in out, f"the load failed: {out.get('error')!r}"
    rig.db.discard()  # the rig's connection (if any) did not survive the restart either
    summary: LoadSummary = out["summary"]
    assert summary.asked == N and not summary.stopped_early
    assert summary.asked == summary.sent + summary.cache_hits + summary.coalesced
    assert summary.sent == summary.acknowledged and summary.failed == 0
    return summary


def test_a_short_restart_delays_sends_and_loses_nothing(
        rig, db_settings, new_experiment, postgres_restart) -> None:
    stop_pg, start_pg = postgres_restart
    connect, emitter = CountingConnect(), RecordingEmitter(stage="generator")
    settings = GeneratorSettings(start_delay_s=0, db_retry_s=120.0)
    thread, out = _load_in_background(rig, db_settings, new_experiment("pg-restart"), settings,
                                      connect, emitter)
    wait_for("the first 100 sends", lambda: _sent(emitter) >= 100 or "error" in out, 60)
    stop_pg()
    wait_for("the generator to find the database down", lambda: connect.refused >= 3, 60)
    start_pg()
    summary = _finish(rig, thread, out)
    assert summary.cache_unavailable == 0  # waited for the database, within the bound
    assert summary.lag["max_lag_s"] > 0.5  # the sends due during the restart were late


def test_a_restart_longer_than_the_bound_sends_misses(
        rig, db_settings, new_experiment, postgres_restart) -> None:
    stop_pg, start_pg = postgres_restart
    connect, emitter = CountingConnect(), RecordingEmitter(stage="generator")
    settings = GeneratorSettings(start_delay_s=0, db_retry_s=2.0, db_probe_every_s=0.5)
    thread, out = _load_in_background(rig, db_settings, new_experiment("pg-outage"), settings,
                                      connect, emitter)
    wait_for("the first 100 sends", lambda: _sent(emitter) >= 100 or "error" in out, 60)
    stop_pg()
    during = _sent(emitter)
    wait_for("sends while the database is down",
             lambda: _sent(emitter) >= during + 60 or "error" in out or not thread.is_alive(), 60)
    start_pg()
    summary = _finish(rig, thread, out)
    assert summary.cache_unavailable >= 60
    assert connect.refused > 0
