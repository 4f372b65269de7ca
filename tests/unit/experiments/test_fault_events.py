"""Fault events survive a database that is away (experiments.fault_events): a write PostgreSQL
refuses is kept, retried with backoff, and appended to the experiment's file if the load ends
first; each deferral is logged once, and the outcome. The seam is the Database object: a real
:class:`Database` over a fake server (tests/db_fakes.py) and a test clock that its pauses advance."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from db_fakes import FakeServer

from experiments.fault_events import (
    INSERT,
    FaultEventLog,
    FaultEventRow,
    merge_fault_rows,
    read_spilled,
    spill_file,
)
from foundation.layout import Layout
from pipeline.storage.db import Database

DSN = "postgresql://harness:pw@127.0.0.1:5432/harness"


class Clock:
    """Epoch-like seconds that only the test and the database's pauses move."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _database(server: FakeServer, clock: Clock) -> Database:
    from pipeline.storage.settings import DatabaseSettings

    return Database(DatabaseSettings(dsn=DSN), application_name="test-faults", autocommit=True,
                    connect=server.connect, clock=clock, sleep=clock.sleep)


def _log(server: FakeServer, clock: Clock, tmp_path: Path, **options: float) -> FaultEventLog:
    return FaultEventLog("exp-1", _database(server, clock), tmp_path / "exp-1.jsonl",
                         clock=clock, **options)


def _row(event_id: str, at_s: float = 30.0, target: str = "postgres") -> FaultEventRow:
    return FaultEventRow(event_id, "exp-1", 1_000.0 + at_s,
                         {"at_s": at_s, "action": "kill", "target": target,
                          "started_at": 1_000.0 + at_s})


def _inserted(server: FakeServer) -> list[str]:
    return [params["event_id"] for sql, params in server.executed if sql == INSERT]


def test_a_write_that_fails_n_times_is_kept_and_retried_with_backoff_until_it_lands(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="experiments.fault_events")
    clock = Clock()
    server = FakeServer(fail_connects=3)
    events = _log(server, clock, tmp_path, write_deadline_s=0, retry_first_s=1.0)
    events.record(_row("e1"))  # failure 1: kept
    assert events.retry_at() == 1_001.0 and _inserted(server) == []
    assert events.retry() is False  # not due yet: no try
    assert server.connects == 1
    pauses = []
    while events.retry_at() is not None:
        pauses.append(events.retry_at() - clock.now)
        clock.now = events.retry_at()
        events.retry()
    assert pauses == [1.0, 2.0, 4.0]  # failures 2 and 3 double the pause; the 4th try lands
    assert _inserted(server) == ["e1"] and server.connects == 4
    assert (events.written, events.written_late) == (1, 1)
    deferrals = [r for r in caplog.records if "not written to PostgreSQL" in r.getMessage()]
    assert len(deferrals) == 1 and "kill postgres at 30 s (event e1)" in deferrals[0].getMessage()
    assert "written at try 4 (7.0 s late)" in caplog.text
    assert events.close() == [] and not (tmp_path / "exp-1.jsonl").exists()


def test_later_events_queue_behind_a_kept_one_and_keep_their_order(tmp_path: Path) -> None:
    clock = Clock()
    server = FakeServer(outages=[(1_000.0, 1_010.0)], clock=clock)
    events = _log(server, clock, tmp_path, write_deadline_s=0)
    events.record(_row("e1", 30))
    server.outages.clear()  # back: the next event still waits behind the first
    events.record(_row("e2", 31))
    assert _inserted(server) == [] and len(events.kept) == 2
    assert events.flush() is True  # the end of the schedule
    assert _inserted(server) == ["e1", "e2"] and events.retry_at() is None


def test_what_the_database_never_takes_is_appended_to_the_file_when_the_load_ends(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="experiments.fault_events")
    clock = Clock()
    server = FakeServer(fail_connects=10**6)
    events = _log(server, clock, tmp_path, write_deadline_s=1.0, flush_deadline_s=5.0)
    events.record(_row("e1", 30))
    events.record(_row("e2", 60, target="kafka"))
    start = clock.now
    left = events.close()
    assert [row.event_id for row in left] == ["e1", "e2"]
    assert clock.now - start <= 5.0 + 1e-9  # the last try is bounded
    lines = [json.loads(line) for line in (tmp_path / "exp-1.jsonl").read_text().splitlines()]
    assert [(line["event_id"], line["experiment_id"], line["kind"], line["stage"])
            for line in lines] == [("e1", "exp-1", "fault", "faults"),
                                   ("e2", "exp-1", "fault", "faults")]
    assert lines[1]["attrs"]["target"] == "kafka"
    assert events.spilled == 2 and events.close() == []  # idempotent: nothing appended twice
    assert len((tmp_path / "exp-1.jsonl").read_text().splitlines()) == 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "2 fault event(s) of exp-1" in errors[0].getMessage()
    assert "0 written to PostgreSQL (0 after a deferral), 2 appended" in caplog.text
    with pytest.raises(RuntimeError, match="closed"):
        events.record(_row("e3"))


def test_the_file_is_read_back_and_merged_with_the_table_once_per_event_id(tmp_path: Path) -> None:
    path = tmp_path / "exp-1.jsonl"
    path.write_text("\n".join([_row("e2", 20).to_json(), _row("e3", 5).to_json(),
                               json.dumps({**json.loads(_row("x").to_json()),
                                           "experiment_id": "other"}),
                               '{"event_id": "cut', ""]))
    spilled = read_spilled(path, "exp-1")
    assert [r["event_id"] for r in spilled] == ["e2", "e3"]
    table = [{"event_id": "e1", "ts": 1_010.0, "attrs": {"action": "kill", "target": "storage"}},
             {"event_id": "e2", "ts": 1_020.0, "attrs": {"from": "table"}}]
    merged = merge_fault_rows(table, spilled)
    assert [r["event_id"] for r in merged] == ["e3", "e1", "e2"]
    assert merged[2]["attrs"] == {"from": "table"}
    assert read_spilled(tmp_path / "missing.jsonl", "exp-1") == []


def test_the_file_lives_in_the_stacks_state_folder_named_by_the_experiment(tmp_path: Path) -> None:
    layout = Layout(home=tmp_path)
    assert spill_file("demo-20250101-r1", layout) == (
        tmp_path / "runs" / "fault-events" / "demo-20250101-r1.jsonl")
    assert spill_file("../etc/x y", layout).parent == layout.fault_events
