"""The tiny study through the `sweep` DAG (its `study` param) on the real stack: one `experiment`
run per missing cell x repeat (labels tiny.<cell>.r<k>; repeats that finished earlier, through
this DAG or `harness study tiny`, are not run again), then reports/studies/tiny/. Up to about
8 minutes when nothing of the tiny study has run yet (four experiment DAG runs)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from harness.airflow_api import xcom_value


def test_the_sweep_dag_runs_a_study_and_writes_its_report(airflow, endpoints):
    airflow.wait_for_dag("sweep", timeout_s=180)
    started = time.monotonic()
    run = airflow.trigger("sweep", conf={"study": "tiny"})
    finished = airflow.wait_for_run("sweep", run.run_id, timeout_s=1200)
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances("sweep", run.run_id)}
    assert finished.state == "success", states
    print(f"sweep DAG run of the tiny study took {time.monotonic() - started:.0f} s")

    out = Path(xcom_value(airflow, "sweep", run.run_id, "compare_grid"))
    assert out.name == "tiny" and out.parent.name == "studies"
    study = json.loads((out / "study.json").read_text())
    assert [c["name"] for c in study["cells"]] == ["base_s-0.1", "base_s-0.5"]
    for cell in study["cells"]:
        assert len(cell["runs"]) == 2, cell["missing"]
        assert cell["metrics"]["amplification"]["ci_low"] is not None
    assert {v["claim"] for v in study["verdicts"]} == {"one-call", "base-changes-nothing"}
    assert (out / "index.html").exists()
