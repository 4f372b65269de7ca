"""Stopping the load early on quota errors: the watch, the load summary, the collector, the report."""

from __future__ import annotations

import logging
import threading

import psycopg2
import pytest
from db_fakes import FakeServer

from experiments import spec
from experiments.collect_map import stop_reason
from experiments.metrics import compute
from experiments.metrics.synthetic import SyntheticProfile, make_run
from experiments.quota_watch import QuotaWatch, count_quota_errors_in
from experiments.report.narrative import findings
from pipeline.storage.db import Database, DatabaseUnavailable


class Counts:
    """Quota errors recorded so far, one value per poll (the last one repeats)."""

    def __init__(self, *values: int | Exception) -> None:
        self.values, self.polls = list(values), 0

    def __call__(self, experiment_id: str) -> int:
        assert experiment_id == "exp-1"
        self.polls += 1
        value = self.values.pop(0) if len(self.values) > 1 else self.values[0]
        if isinstance(value, Exception):
            raise value
        return value


def test_the_watch_stops_the_load_at_the_threshold() -> None:
    stop = threading.Event()
    watch = QuotaWatch("exp-1", 5, stop, count=Counts(0, 3, 5, 9), clock=lambda: 123.0)
    assert [watch.check() for _ in range(2)] == [False, False] and not stop.is_set()
    assert watch.reason is None
    assert watch.check() and stop.is_set() and watch.tripped_at == 123.0
    assert watch.reason == ("quota_exhausted: 5 insufficient_quota errors from the LLM "
                            "(llm.stop_after_quota_errors = 5)")
    assert watch.check()  # stays tripped without polling again
    assert watch.seen == 5


def test_threshold_zero_watches_nothing() -> None:
    stop, counts = threading.Event(), Counts(1_000)
    with QuotaWatch("exp-1", 0, stop, count=counts, poll_s=0.01) as watch:
        assert not watch.check()
    assert counts.polls == 0 and not stop.is_set()


def test_the_thread_polls_until_tripped_and_survives_a_failed_poll() -> None:
    stop = threading.Event()
    counts = Counts(psycopg2.OperationalError("server restarting"), 1, 2)
    with QuotaWatch("exp-1", 2, stop, count=counts, poll_s=0.01):
        assert stop.wait(5.0), "the watch never stopped the load"
    assert counts.polls == 3


def test_the_count_works_on_a_fresh_connection_after_a_restart() -> None:
    server = FakeServer(answer=lambda sql, params: [(7,)])
    db = Database(autocommit=True, connect=server.connect)
    count = count_quota_errors_in(db)
    assert count("exp-1") == 7
    server.fail_queries = 1  # PostgreSQL restarted: the watch's connection is gone
    with pytest.raises(DatabaseUnavailable):  # no retry within a poll: the next poll is one
        count("exp-1")
    assert count("exp-1") == 7 and len(server.connections) == 2
    assert server.executed[-1][1] == ("exp-1",)


def test_failed_polls_are_logged_when_they_start_and_when_they_end(caplog) -> None:
    stop = threading.Event()
    down = DatabaseUnavailable("'harness' at 127.0.0.1:5432", "quota error count", 0.0, 1,
                               psycopg2.OperationalError("Connection refused"))
    counts = Counts(psycopg2.OperationalError("server closed the connection"), down, down, 1, 3)
    watch = QuotaWatch("exp-1", 3, stop, count=counts, clock=lambda: 5.0)
    with caplog.at_level(logging.INFO, logger="experiments.quota_watch"):
        assert [watch.poll() for _ in range(4)] == [False, False, False, False]
        assert watch.failed_polls == 0
        assert watch.poll() and stop.is_set()
    messages = [r.getMessage() for r in caplog.records]
    assert "poll failed (server closed the connection)" in messages[0]
    assert "polling again after 3 failed poll(s)" in messages[1]
    assert len(messages) == 3 and "stopping the load early" in messages[2]


def test_a_negative_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        QuotaWatch("exp-1", -1, threading.Event(), count=Counts(0))


def test_the_spec_field_is_validated_by_name() -> None:
    assert spec.validate({"name": "x"})["llm"]["stop_after_quota_errors"] == 0
    with pytest.raises(spec.SpecError) as info:
        spec.validate({"name": "x", "llm": {"stop_after_quota_errors": -3}})
    assert info.value.field == "llm.stop_after_quota_errors"


def test_the_reason_travels_from_the_load_summary_to_the_report() -> None:
    load = {"stopped_early": True, "stop_reason": "quota_exhausted: 5 insufficient_quota errors"}
    assert stop_reason({"load": load}) == load["stop_reason"]
    assert stop_reason(load) == load["stop_reason"]
    assert stop_reason({"load": {"stopped_early": True}}) == "stopped before the end of the schedule"
    assert stop_reason({"load": {"stopped_early": False}}) is None and stop_reason(None) is None
    run = make_run(1, profile=SyntheticProfile(duration_s=6.0, warmup_s=1.0, rate=2.0))
    run.meta.stopped_early = load["stop_reason"]
    text = findings(compute(run))
    assert text[0].startswith("The load stopped before the end of its schedule: quota_exhausted")
    run.meta.stopped_early = None
    assert not any("stopped before" in t for t in findings(compute(run)))
