"""The real Airflow: a DAG of dags/ triggered through the REST API with a conf succeeds, and the
connections `harness up` creates are the ones it uses."""

from __future__ import annotations

import uuid

import psycopg2


def test_smoke_dag_triggered_with_conf_succeeds(airflow, endpoints):
    airflow.wait_for_dag("smoke", timeout_s=180)
    message = f"hello-{uuid.uuid4().hex[:8]}"
    run = airflow.trigger("smoke", conf={"message": message})
    finished = airflow.wait_for_run("smoke", run.run_id, timeout_s=300)
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances("smoke", run.run_id)}
    assert finished.state == "success", states
    assert states == {"postgres_round_trip": "success", "kafka_round_trip": "success"}
    with psycopg2.connect(endpoints.db_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM smoke_messages WHERE message = %s", (message,))
        assert cur.fetchone()[0] == 1
    conn.close()


def test_dags_are_not_paused(airflow):
    dag = airflow.wait_for_dag("smoke", timeout_s=180)
    assert dag["is_paused"] is False
