"""What `harness status`, `up`, `trigger` and `demo` print names the file that keeps the Airflow
password, never the password (nor the database passwords)."""

from __future__ import annotations

from pathlib import Path

from experiments.progress import ProgressSnapshot, describe
from experiments.run_summary import RunSummary, format_summary
from foundation.settings import StackSettings
from harness.stack.manager import Stack, airflow_login_line, format_status, status_json


def _secrets(stack: Stack) -> list[str]:
    folder = stack.layout.secrets
    values = [p.read_text().strip() for p in folder.iterdir() if p.is_file()]
    return [v for v in values if len(v) >= 8]


def _stack(home: Path) -> Stack:
    # an external Flink: the local one would need the bootstrapped Flink environment
    return Stack(StackSettings(home=home, external_flink_url="http://flink.invalid:8081"))


def test_status_and_up_output_name_the_password_file_not_the_password(tmp_path: Path):
    stack = _stack(tmp_path)
    status = stack.status()  # nothing runs here: every service is "not running"
    secrets = _secrets(stack)
    password = (stack.layout.secrets / "airflow_admin_password").read_text().strip()
    assert password in secrets
    for text in (format_status(status), status_json(status)):
        for secret in secrets:
            assert secret not in text
    assert str(stack.airflow_password_file()) in format_status(status)
    assert status["airflow"]["password_file"] == str(stack.layout.secrets /
                                                     "airflow_admin_password")


def test_the_login_line_of_trigger_and_demo_names_the_file():
    line = airflow_login_line("http://127.0.0.1:8080", "admin", "/s/airflow_admin_password")
    assert line == ("Airflow UI: http://127.0.0.1:8080  login: admin "
                    "(password in /s/airflow_admin_password)")


def test_progress_and_summary_carry_no_secret_of_the_stack(tmp_path: Path):
    stack = _stack(tmp_path)
    stack.endpoints()  # makes the secrets
    snapshot = ProgressSnapshot(
        label="demo-1", phase="loading", status="running", reason=None, sent=3, accepted=1,
        low_quality=0, dead_lettered=0, in_flight=2, e2e_p50_s=0.4, e2e_p99_s=0.8,
        llm_calls=3, llm_errors=0)
    summary = RunSummary(label="demo-1", status="finished", progress=snapshot,
                         report="reports/demo-1/index.html")
    texts = [describe(snapshot), describe(snapshot, compact=True), format_summary(summary)]
    for secret in _secrets(stack):
        assert all(secret not in text for text in texts)
