"""The fault schedule (experiments.faults): its spec rules, the record of each fault (kept and
retried while the database is away), and the targets a run cannot reach. The order of
injections and their ends: test_fault_schedule.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from db_fakes import FakeServer

from experiments.fault_events import INSERT
from experiments.faults import (
    FaultRunner,
    FaultSpec,
    Injected,
    parse_faults,
    record_in_events,
    unreachable_targets,
)
from pipeline.spec_model import validate_model
from pipeline.storage.db import Database
from pipeline.storage.settings import DatabaseSettings


class FakeInjector:
    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[str] = []
        self.fail_on = fail_on

    def inject(self, fault: FaultSpec) -> str:
        self.calls.append(f"{fault.action} {fault.target}")
        if fault.target == self.fail_on:
            raise RuntimeError("no such process")
        return f"did {fault.action} {fault.target}"

    def end(self, fault: FaultSpec) -> str:
        self.calls.append(f"end {fault.action} {fault.target}")
        return "ended"


def test_a_failed_injection_is_recorded_with_its_error_and_the_schedule_goes_on() -> None:
    recorded: list[Injected] = []
    faults = parse_faults([{"at_s": 0, "action": "kill", "target": "relay"},
                           {"at_s": 0.01, "action": "restart", "target": "storage"}])
    FaultRunner(faults, FakeInjector(fail_on="relay"), record=recorded.append).start().wait(10)
    relay, storage = sorted(recorded, key=lambda injected: injected.fault["target"])
    assert relay.error == "RuntimeError: no such process"
    assert storage.error is None and storage.detail == "did restart storage"


def _database(server: FakeServer) -> Database:
    return Database(DatabaseSettings(dsn="postgresql://h:pw@127.0.0.1:5432/harness"),
                    autocommit=True, connect=server.connect)


def test_a_fault_event_the_database_refuses_is_written_on_a_later_tick(tmp_path: Path) -> None:
    injector = FakeInjector()

    def answer(sql: str, params: Any) -> list[tuple]:
        if sql == INSERT:
            injector.calls.append(f"event {json.loads(params['attrs'])['target']}")
        return []

    server = FakeServer(answer=answer, fail_connects=2)  # PostgreSQL restarting
    record = record_in_events("exp-1", db=_database(server), spill=tmp_path / "exp-1.jsonl",
                              write_deadline_s=0, retry_first_s=0.05)
    runner = FaultRunner(parse_faults([{"at_s": 0, "action": "kill", "target": "postgres"},
                                       {"at_s": 1.0, "action": "kill", "target": "relay"}]),
                         injector, record=record).start()
    runner.wait(timeout_s=10)
    runner.close()
    # refused at once and on the first tick (0.05 s), written on the second (0.15 s)
    assert injector.calls == ["kill postgres", "event postgres", "kill relay", "event relay"]
    assert server.refused == 2 and not (tmp_path / "exp-1.jsonl").exists()
    assert [params["event_id"] for sql, params in server.executed if sql == INSERT] == [
        injected.event_id for injected in runner.done]


def test_closed_while_the_database_is_away_the_events_go_to_the_runs_file(tmp_path: Path) -> None:
    injector = FakeInjector()
    spill = tmp_path / "exp-1.jsonl"
    record = record_in_events("exp-1", db=_database(FakeServer(fail_connects=10**6)),
                              spill=spill, write_deadline_s=0, flush_deadline_s=0.05)
    runner = FaultRunner(parse_faults([
        {"at_s": 0, "action": "kill", "target": "postgres"},
        {"at_s": 0, "action": "pause", "target": "kafka", "duration_s": 600}]), injector,
        record=record).start()
    while len(injector.calls) < 2:
        runner.wait(timeout_s=0.01)
    runner.close(timeout_s=10)  # the load ends: the pause is ended, then both events are kept
    assert injector.calls[-1] == "end pause kafka"
    lines = [json.loads(line) for line in spill.read_text().splitlines()]
    assert [line["event_id"] for line in lines] == [i.event_id for i in runner.done]
    assert [line["attrs"]["target"] for line in lines] == ["postgres", "kafka"]


@pytest.mark.parametrize(("fault", "field"), [
    ({"at_s": 1, "action": "outage", "target": "kafka", "duration_s": 5}, "target"),
    ({"at_s": 1, "action": "kill", "target": "llm"}, "target"),
    ({"at_s": 1, "action": "pause", "target": "storage"}, "duration_s"),
    ({"at_s": 1, "action": "kill", "target": "storage", "worker": 1}, "worker"),
    ({"at_s": -1, "action": "kill", "target": "storage"}, "at_s"),
    ({"at_s": 1, "action": "explode", "target": "storage"}, "action"),
])
def test_an_impossible_fault_is_refused_naming_the_field(fault: dict, field: str) -> None:
    from pipeline.spec_model import SpecError

    with pytest.raises(SpecError) as info:
        validate_model(FaultSpec, fault)
    assert info.value.field == field


def test_targets_outside_the_local_stack_are_named() -> None:
    faults = [{"at_s": 1, "action": "restart", "target": "kafka"},
              {"at_s": 2, "action": "kill", "target": "flink-jobmanager"},
              {"at_s": 3, "action": "kill", "target": "storage"}]
    environ = {"HARNESS_EXTERNAL_KAFKA": "broker:9092", "HARNESS_EXTERNAL_FLINK_URL": ""}
    assert unreachable_targets(faults, environ) == ["kafka"]
    assert unreachable_targets(faults, {}) == []
