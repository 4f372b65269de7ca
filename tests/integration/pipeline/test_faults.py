"""Infrastructure faults during a run: for each scenario, one short experiment with the fault in
its spec (injected by the load process through the local stack's supervisor), then the audit must
find zero lost and zero unknown questions (a crash may replay what was in flight: extra LLM calls,
reported by the audit as duplicated passes, with each outcome stored once), the run must finish,
and the report must exist.

The scenarios run through `runner.run_experiment` (the steps of the experiment DAG, in this
process): the Airflow path is covered by the e2e tests. The all-faults-in-one-run scenario is a
benchmark (bench/fault_recovery.py), kept out of CI for its length.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from experiments import runner
from experiments import spec as spec_module

LOAD = [
    "arrival.kind=constant", "arrival.rate=4", "dataset.repeat_share=0", "llm.profile=healthy",
    "warmup_s=0", "drain_timeout_s=600", "scoring.scorer=lexical", "retry.max_attempts=6",
    "retry.base_s=0.2", "retry.cap_s=5",
]
#: seconds of load: long enough after the fault for the report to measure the recovery
LOAD_S = {"llm": 100}
DEFAULT_LOAD_S = 60

SCENARIOS: dict[str, dict[str, Any]] = {
    "broker-restart": {"at_s": 10, "action": "restart", "target": "kafka"},
    "postgres-restart": {"at_s": 10, "action": "restart", "target": "postgres"},
    "storage-kill": {"at_s": 10, "action": "kill", "target": "storage"},
    "relay-kill": {"at_s": 10, "action": "kill", "target": "relay"},
    "worker-kill": {"at_s": 10, "action": "kill", "target": "worker"},
    "taskmanager-kill": {"at_s": 10, "action": "kill", "target": "flink-taskmanager"},
    "jobmanager-restart": {"at_s": 10, "action": "restart", "target": "flink-jobmanager"},
    "worker-pause-20s": {"at_s": 10, "action": "pause", "target": "worker", "duration_s": 20},
    "llm-outage-60s": {"at_s": 10, "action": "outage", "target": "llm", "duration_s": 60,
                       "status": 503},
}


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_fault_loses_and_duplicates_nothing(scenario: str, endpoints) -> None:
    fault = SCENARIOS[scenario]
    extra = ["retry.max_attempts=12", "retry.cap_s=10"] if fault["target"] == "llm" else []
    load_s = LOAD_S.get(fault["target"], DEFAULT_LOAD_S)
    extra += [f"arrival.duration_s={load_s}", f"dataset.size={4 * load_s}"]
    spec = spec_module.apply_overrides(spec_module.load(spec_module.SPECS_DIR / "demo.yaml"),
                                       [f"name=fault-{scenario}", *LOAD, *extra])
    spec["faults"] = [fault]
    spec = spec_module.validate(spec)
    label = f"fault-{scenario}-{uuid.uuid4().hex[:6]}"
    handle = runner.run_experiment(spec, label=label)

    report = runner.report_dir_for(handle.label)
    audit = json.loads((report / "audit.json").read_text())
    assert audit["verdict"] == "clean", audit.get("reasons")
    totals = audit.get("totals", audit)
    assert totals["lost"] == 0 and totals["unknown"] == 0, totals
    # a crash replays what was in flight (at-least-once): extra LLM calls, outcomes stored once
    print(f"{scenario}: sent {totals['acknowledged']}, lost {totals['lost']}, replayed "
          f"{totals['duplicated']} ({totals['extra_llm_calls']} extra LLM calls)")
    html = (report / "index.html").read_text()
    assert "Injected faults" in html and fault["target"] in html  # the Faults table
    metrics = json.loads((report / "metrics.json").read_text())
    (impact,) = metrics["faults"]
    assert (impact["action"], impact["target"]) == (fault["action"], fault["target"])
    print(f"{scenario}: recovery {impact.get('recovery_s')} s, delayed {impact.get('delayed')}, "
          f"extra LLM calls {impact.get('extra_llm_calls')}")
    run = runner.run_status(handle.label)
    assert run is not None and run.status == "finished", run
    injected = _fault_events(handle.experiment_ids[0])
    assert len(injected) == 1 and injected[0]["error"] is None, injected
    assert injected[0]["target"] == fault["target"]


def _fault_events(experiment_id: str) -> list[dict[str, Any]]:
    from pipeline.storage.db import Database

    with Database(application_name="test-faults", autocommit=True) as db:
        conn = db.conn()
        with conn.cursor() as cur:
            cur.execute("SELECT attrs FROM events WHERE experiment_id = %s AND kind = 'fault' "
                        "ORDER BY ts", (experiment_id,))
            return [row[0] for row in cur.fetchall()]


@pytest.mark.timeout(1200)
def test_a_slow_fault_does_not_delay_the_next_one(endpoints) -> None:
    """A JobManager restart (which waits for the scoring job's resubmission, tens of seconds)
    does not hold back a worker pause due 5 s after it: the pause starts on its own time."""
    spec = spec_module.apply_overrides(spec_module.load(spec_module.SPECS_DIR / "demo.yaml"),
                                       ["name=fault-overlap", *LOAD, "arrival.duration_s=60",
                                        "dataset.size=240"])
    spec["faults"] = [{"at_s": 10, "action": "restart", "target": "flink-jobmanager"},
                      {"at_s": 15, "action": "pause", "target": "worker", "duration_s": 5}]
    spec = spec_module.validate(spec)
    handle = runner.run_experiment(spec, label=f"fault-overlap-{uuid.uuid4().hex[:6]}")

    events = {e["target"]: e for e in _fault_events(handle.experiment_ids[0])}
    restart, pause = events["flink-jobmanager"], events["worker"]
    assert restart["error"] is None and "scoring job" in restart["detail"], restart
    assert pause["error"] is None and "late" not in pause["detail"], pause
    assert 3.0 <= pause["started_at"] - restart["started_at"] <= 7.0, (restart, pause)
    assert 4.5 <= pause["ended_at"] - pause["started_at"] <= 8.0, pause
    run = runner.run_status(handle.label)
    assert run is not None and run.status == "finished", run
