"""The operational DAGs on the real stack, triggered through Airflow's REST API: topics
provisioned through the Kafka provider's hook, the pipeline stopped with a savepoint and
started again (resumed from it), and a two-cell sweep with its comparison report."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.airflow_api import xcom_value


def _run(airflow, dag_id: str, conf: dict, timeout_s: float = 600) -> str:
    airflow.wait_for_dag(dag_id, timeout_s=180)
    run = airflow.trigger(dag_id, conf=conf)
    finished = airflow.wait_for_run(dag_id, run.run_id, timeout_s=timeout_s)
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(dag_id, run.run_id)}
    assert finished.state == "success", states
    return run.run_id


def test_kafka_topics_dag_provisions_every_topic_of_the_spec(airflow, endpoints):
    from pipeline.topics import load_topics

    run_id = _run(airflow, "kafka_topics", {})
    lines = xcom_value(airflow, "kafka_topics", run_id, "provision")
    names = {line.split()[0] for line in lines}
    assert names == set(load_topics().names())


def test_pipeline_dag_stops_with_a_savepoint_and_starts_again(airflow, endpoints):
    from flink.control import ScoringJobControl, job_config

    _run(airflow, "pipeline", {"action": "start"})
    with ScoringJobControl() as control:
        running = control.status(job_config().job_name)
        assert running.running
        first_job = running.job_id

    run_id = _run(airflow, "pipeline", {"action": "stop", "savepoint": True})
    stopped = xcom_value(airflow, "pipeline", run_id, "stop_pipeline")
    assert first_job in stopped["jobs"]
    assert stopped["savepoint"] and Path(stopped["savepoint"].removeprefix("file:")).exists()
    assert "worker-0" in stopped["services"]

    _run(airflow, "pipeline", {"action": "start"})
    with ScoringJobControl() as control:
        again = control.status(job_config().job_name)
    assert again.running and again.job_id != first_job
    assert again.restored is not None  # resumed from the savepoint
    from harness.pipeline import service_health

    assert all(result.ok for result in service_health().values())


@pytest.mark.timeout(1500)
def test_sweep_runs_every_cell_as_an_experiment_run_and_a_failed_cell_loses_nothing(
        airflow, endpoints):
    """Each cell is an `experiment` DAG run of its own, named after the cell; the `slow` cell's
    drain times out (a failed run with a partial report) and the other cells are compared."""
    from experiments.runner import report_dir_for, run_status

    conf = {
        "name": "itsweep",
        "base": "demo",
        "grid": {"llm.profile": ["healthy", "flaky", "slow"]},
        "overrides": {"arrival.duration_s": 8, "arrival.rate": 3, "dataset.size": 30,
                      "warmup_s": 1, "drain_timeout_s": 60, "llm.timeout_s": 300,
                      "retry.base_s": 0.05},
    }
    run_id = _run(airflow, "sweep", conf, timeout_s=1400)
    comparison = Path(xcom_value(airflow, "sweep", run_id, "compare_grid"))
    assert (comparison / "index.html").exists()
    html = (comparison / "index.html").read_text()
    assert "itsweep.1" in html and "itsweep.2" in html and "itsweep.3" not in html
    assert len(list(comparison.glob("*.png"))) >= 2
    # the sweep's charts: each headline against llm.profile (a categorical axis), on the page
    assert "Sweep charts" in html and "against llm.profile" in html
    assert len(list(comparison.glob("sweep_*.png"))) == 5
    labels = xcom_value(airflow, "sweep", run_id, "labels")
    assert [label.split("-")[0] for label in labels] == ["itsweep.1", "itsweep.2", "itsweep.3"]
    states = {label: airflow.get_run("experiment", label).state for label in labels}
    assert list(states.values()) == ["success", "success", "failed"], states
    failed = run_status(labels[2])
    assert failed is not None and failed.status == "failed"
    assert failed.reason.startswith("drain timed out")
    assert (report_dir_for(labels[2]) / "index.html").exists()  # partial, but there
