"""The experiments and runs tables through a PostgreSQL restart: the runner's and the load
process's connections sit idle through the load; their next write reconnects instead of failing
the run."""

from __future__ import annotations

import pytest
from db_fakes import FakeServer

from pipeline.storage.db import Database, DatabaseUnavailable
from pipeline.storage.experiments import ExperimentStore
from pipeline.storage.runs import RunStore


def _db(server: FakeServer) -> Database:
    return Database(autocommit=True, connect=server.connect, sleep=lambda s: None)


def test_the_experiment_row_is_finished_after_a_restart() -> None:
    server = FakeServer()
    store = ExperimentStore(_db(server), clock=lambda: 5.0)
    store.mark_started("exp-1")
    server.fail_queries, server.fail_connects = 1, 2  # restarted during the load
    store.mark_finished("exp-1", status="running", summary={"load": {"sent": 3}})
    sql, params = server.executed[-1]
    assert sql.lstrip().startswith("UPDATE experiments") and params["id"] == "exp-1"
    assert len(server.connections) == 2


def test_a_run_phase_is_recorded_after_a_restart() -> None:
    row = {"label": "r1", "name": "n", "spec": {}, "experiment_ids": ["exp-1"],
           "phase": "draining", "status": "running", "created_at": 1.0, "updated_at": 2.0}
    server = FakeServer(answer=lambda sql, params: [row] if "SELECT" in sql else [],
                        columns=lambda sql: ["label"])
    runs = RunStore(_db(server), clock=lambda: 9.0)
    runs.heartbeat("r1")
    server.fail_queries = 1
    runs.set_phase("r1", "draining", load_finished_at=8.0)
    assert any("UPDATE runs" in sql for sql, _ in server.executed[1:])
    got = runs.get("r1")
    assert got is not None and got.phase == "draining"


def test_a_store_gives_up_after_its_bound() -> None:
    server = FakeServer(fail_connects=1_000)
    with pytest.raises(DatabaseUnavailable, match="experiments table"):
        ExperimentStore(_db(server), retry_s=0).mark_started("exp-1")
    assert server.connects == 1
