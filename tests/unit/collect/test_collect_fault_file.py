"""The collector merges the fault events the load process could not write to PostgreSQL (the
experiment's JSON-lines file, experiments.fault_events) with the events table's, once per
event id, into the run's faults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from db_fakes import FakeServer

from experiments.collect_map import faults_from_events
from experiments.collect_sql import FAULTS, SERVER_VERSION, fetch_run
from experiments.fault_events import FaultEventRow

T = 1_760_000_000.0


def _attrs(action: str, target: str, at_s: float) -> dict[str, Any]:
    return {"at_s": at_s, "action": action, "target": target, "duration_s": 0.0,
            "started_at": T + at_s, "ended_at": T + at_s, "detail": f"{action} {target}",
            "error": None}


def _server(table: list[tuple]) -> FakeServer:
    def answer(sql: str, params: object) -> list[tuple]:
        if sql == FAULTS:
            return table
        return [("16.4",)] if sql == SERVER_VERSION else []

    def columns(sql: str) -> list[str]:
        if sql == FAULTS:
            return ["event_id", "ts", "attrs"]
        return ["server_version"] if sql == SERVER_VERSION else ["id"]

    return FakeServer(answer=answer, columns=columns)


def test_the_files_fault_events_join_the_tables_without_duplicates(tmp_path: Path) -> None:
    # the storage kill reached the table; the PostgreSQL kill did not (written to the file at
    # the load's end); the Kafka restart is in both (its insert landed as the connection broke)
    table = [("e-storage", T + 5, _attrs("kill", "storage", 5)),
             ("e-kafka", T + 40, _attrs("restart", "kafka", 40))]
    spill = tmp_path / "exp-1.jsonl"
    spill.write_text("".join(FaultEventRow(event_id, "exp-1", T + at_s,
                                           _attrs(action, target, at_s)).to_json() + "\n"
                             for event_id, action, target, at_s in [
                                 ("e-postgres", "kill", "postgres", 20),
                                 ("e-kafka", "restart", "kafka", 40)]))
    raw = fetch_run("postgresql://h:pw@127.0.0.1/harness", "exp-1",
                    connect=_server(table).connect, fault_events_file=spill)
    assert [row["event_id"] for row in raw.faults] == ["e-storage", "e-postgres", "e-kafka"]
    faults = faults_from_events(raw.faults)
    assert [(f.action, f.target, f.at_s) for f in faults] == [
        ("kill", "storage", 5), ("kill", "postgres", 20), ("restart", "kafka", 40)]


def test_without_a_file_the_tables_events_are_the_runs(tmp_path: Path) -> None:
    table = [("e-storage", T + 5, _attrs("kill", "storage", 5))]
    raw = fetch_run("postgresql://h:pw@127.0.0.1/harness", "exp-1",
                    connect=_server(table).connect, fault_events_file=tmp_path / "none.jsonl")
    assert [row["event_id"] for row in raw.faults] == ["e-storage"]
