"""A whole experiment: the `experiment` DAG triggered through Airflow's REST API on the real stack
(Kafka, Flink, PostgreSQL, the simulator and the pipeline services) with a small spec, then its
report folder checked."""

from __future__ import annotations

import json
import time
from pathlib import Path

from experiments import spec as spec_module
from harness.airflow_api import xcom_value

SMALL = [
    "name=e2e", "arrival.kind=constant", "arrival.rate=4", "arrival.duration_s=15",
    "dataset.size=40", "dataset.repeat_share=0.1", "llm.profile=flaky", "warmup_s=2",
    "drain_timeout_s=180", "retry.base_s=0.05", "retry.cap_s=1",
]


def test_experiment_dag_runs_end_to_end_and_writes_the_report(airflow, endpoints):
    spec = spec_module.apply_overrides(spec_module.load(spec_module.SPECS_DIR / "demo.yaml"), SMALL)
    airflow.wait_for_dag("experiment", timeout_s=180)
    started = time.monotonic()
    run = airflow.trigger("experiment", conf=spec_module.flatten(spec))
    finished = airflow.wait_for_run("experiment", run.run_id, timeout_s=900)
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances("experiment", run.run_id)}
    assert finished.state == "success", states
    print(f"experiment DAG run took {time.monotonic() - started:.0f} s")

    report = Path(xcom_value(airflow, "experiment", run.run_id, "collect_and_report"))
    assert (report / "index.html").exists()
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["schema_version"].startswith("1.")
    plots = sorted(p.name for p in report.rglob("*.png"))
    assert len(plots) >= 5, plots
    html = (report / "index.html").read_text()
    assert "e2e" in html
    # every sent question reached a terminal state, none is left in flight
    counts = json.dumps(metrics)
    assert '"in_flight": 0' in counts or '"in_flight":0' in counts.replace(" ", "")


def test_invalid_value_is_refused_naming_the_field(airflow):
    """Airflow validates the form/conf against the spec schema before any task runs."""
    airflow.wait_for_dag("experiment", timeout_s=180)
    response = airflow.request("POST", "/api/v2/dags/experiment/dagRuns",
                               json={"logical_date": None, "conf": {"retry_base_s": -1}})
    assert response.status_code >= 400
    assert "retry_base_s" in response.text
