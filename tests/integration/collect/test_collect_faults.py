"""The collector on the real PostgreSQL reads a run's fault events (as experiments.faults
records them: stage 'faults', kind 'fault', the attrs of ``Injected.attrs()``) into
RunData.faults, once each, and the metrics and the report show them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

from experiments import spec as specs
from experiments.collect import collect_run
from experiments.collect_meta import StatePaths
from experiments.fault_events import FaultEventLog, FaultEventRow, spill_file
from experiments.faults import FaultSpec, Injected
from experiments.report import build_report
from pipeline.storage.db import Database
from pipeline.storage.experiments import ExperimentStore
from pipeline.storage.settings import DatabaseSettings

T = 1_760_000_000.0


def _record(db: Database, exp: str, injected: Injected, copies: int = 1) -> None:
    conn = db.conn()
    with conn, conn.cursor() as cur:
        for _ in range(copies):  # the recorder retries under a new event id
            cur.execute(
                """INSERT INTO events (event_id, experiment_id, stage, kind, ts, attrs)
                   VALUES (%s, %s, 'faults', 'fault', %s, %s::jsonb)""",
                (uuid.uuid4().hex, exp, injected.started_at, json.dumps(injected.attrs())))


def test_fault_events_are_collected_and_reported(
    db_settings: DatabaseSettings, new_experiment: Callable[[str], str], tmp_path: Path
) -> None:
    exp = new_experiment("faults")
    spec = specs.validate({"name": "faults-it", "warmup_s": 0})
    kill = FaultSpec(at_s=5, action="kill", target="storage")
    pause = FaultSpec(at_s=10, action="pause", target="worker", worker=0, duration_s=4)
    with Database(db_settings, application_name="test-collect-faults") as db:
        store = ExperimentStore(db, clock=lambda: T - 10)
        store.create(exp, "faults-it", spec, git_revision="cafebabe")
        store.mark_started(exp)
        _record(db, exp, Injected(pause.model_dump(), started_at=T + 10.1, ended_at=T + 14.2,
                                  detail="pause worker-0; resumed worker-0"))
        _record(db, exp, Injected(kill.model_dump(), started_at=T + 5.0, ended_at=T + 5.0,
                                  detail="kill storage"), copies=2)
        store.mark_finished(exp, summary={"started_at": T, "ended_at": T + 20})
    collected = collect_run(db_settings.dsn.get_secret_value(), exp,
                            state_paths=StatePaths.of_stack(), clock=lambda: T + 30)
    faults = collected.run.faults
    assert [f.label for f in faults] == ["kill storage", "pause worker 0"]
    assert faults[1].ended_at == T + 14.2 and faults[1].duration_s == 4
    html = build_report(collected.run, tmp_path / "faults-it").read_text()
    assert "kill storage" in html and "Injected faults" in html


def test_fault_events_kept_in_the_runs_file_join_the_tables(
    db_settings: DatabaseSettings, new_experiment: Callable[[str], str]
) -> None:
    """What the load process could not write (PostgreSQL was the fault) reaches the report from
    the experiment's file in the state folder; an event in both is collected once."""
    exp = new_experiment("faults-file")
    spec = specs.validate({"name": "faults-file-it", "warmup_s": 0})
    kill_storage = Injected(FaultSpec(at_s=5, action="kill", target="storage").model_dump(),
                            started_at=T + 5.0, ended_at=T + 5.0, detail="kill storage")
    kill_pg = Injected(FaultSpec(at_s=10, action="kill", target="postgres").model_dump(),
                       started_at=T + 10.0, ended_at=T + 10.0, detail="kill postgres")
    spill = spill_file(exp)
    with Database(db_settings, application_name="test-collect-faults") as db:
        store = ExperimentStore(db, clock=lambda: T - 10)
        store.create(exp, "faults-file-it", spec, git_revision="cafebabe")
        store.mark_started(exp)
        store.mark_finished(exp, summary={"started_at": T, "ended_at": T + 20})
    events = FaultEventLog(exp, Database(db_settings, application_name="test-faults",
                                         autocommit=True), spill)
    rows = [FaultEventRow(i.event_id, exp, i.started_at, i.attrs()) for i in (kill_storage,
                                                                               kill_pg)]
    try:
        events.record(rows[0])  # in the table
        events.record(rows[0])  # the same event again: no second row
        spill.parent.mkdir(parents=True, exist_ok=True)
        spill.write_text(rows[1].to_json() + "\n" + rows[0].to_json() + "\n")
        events.close()
        collected = collect_run(db_settings.dsn.get_secret_value(), exp,
                                state_paths=StatePaths.of_stack(), clock=lambda: T + 30)
    finally:
        spill.unlink(missing_ok=True)
    assert [f.label for f in collected.run.faults] == ["kill storage", "kill postgres"]
    assert collected.stats.faults == 2
