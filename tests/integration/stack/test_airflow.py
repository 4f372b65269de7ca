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


def test_task_logs_are_served_to_airflow_s_own_client(airflow, stack, monkeypatch):
    """The stack's log server (harness.stack.airflow_logs) hands a task's log to the client the
    API server uses for running tasks, signed with the stack's secret; another secret is refused."""
    from airflow.utils.log.file_task_handler import _fetch_logs_from_service

    from harness.stack import airflow_logs, secrets

    airflow.wait_for_dag("smoke", timeout_s=180)
    run = airflow.trigger("smoke", conf={"message": f"log-{uuid.uuid4().hex[:8]}"})
    assert airflow.wait_for_run("smoke", run.run_id, timeout_s=300).state == "success"
    folder = stack.layout.airflow_home / "logs"
    logs = [path for path in folder.glob("dag_id=smoke/*/task_id=kafka_round_trip/*.log")
            if run.run_id in str(path)]
    assert logs, f"no log of run {run.run_id} under {folder}"
    relative = str(logs[0].relative_to(folder))
    url = f"http://{stack.settings.host}:{stack.settings.airflow_log_server_port}/log/{relative}"

    monkeypatch.setenv(airflow_logs.SECRET_VAR,
                       secrets.get_or_create(stack.layout.secrets, "airflow_api_secret_key"))
    response = _fetch_logs_from_service(url, relative)
    assert response.status_code == 200
    assert response.content == logs[0].read_bytes()

    monkeypatch.setenv(airflow_logs.SECRET_VAR, "not-the-stack-secret-" * 4)
    assert _fetch_logs_from_service(url, relative).status_code == 403
