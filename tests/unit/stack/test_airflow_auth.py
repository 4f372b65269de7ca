"""The Airflow client's token authentication (an httpx.Auth), against an in-memory transport."""

from __future__ import annotations

import json

import httpx
import pytest

from harness.airflow_api import AirflowClient, AirflowError


class FakeAirflow:
    """Issues numbered tokens; accepts only the newest one; can refuse logins."""

    def __init__(self, *, password: str = "pw") -> None:
        self.password = password
        self.issued = 0
        self.calls: list[tuple[str, str, str | None]] = []

    def expire(self) -> None:
        self.issued += 1  # the current token is no longer the newest

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.method, request.url.path, request.headers.get("authorization")))
        if request.url.path == "/auth/token":
            body = json.loads(request.content)
            if body != {"username": "admin", "password": self.password}:
                return httpx.Response(401, json={"detail": "bad credentials"})
            self.issued += 1
            return httpx.Response(201, json={"access_token": f"t{self.issued}"})
        if request.headers.get("authorization") != f"Bearer t{self.issued}":
            return httpx.Response(401, json={"detail": "token expired"})
        return httpx.Response(200, json={"dag_id": request.url.path.rsplit("/", 1)[-1]})


def _client(server: FakeAirflow, password: str = "pw") -> AirflowClient:
    return AirflowClient("http://airflow", "admin", password,
                         transport=httpx.MockTransport(server))


def test_logs_in_once_and_sends_the_token_with_every_request() -> None:
    server = FakeAirflow()
    with _client(server) as client:
        assert client.get_dag("a") == {"dag_id": "a"}
        assert client.get_dag("b") == {"dag_id": "b"}
    assert [c[1] for c in server.calls] == ["/auth/token", "/api/v2/dags/a", "/api/v2/dags/b"]
    assert server.calls[2][2] == "Bearer t1"


def test_an_expired_token_is_renewed_and_the_request_repeated_once() -> None:
    server = FakeAirflow()
    with _client(server) as client:
        client.get_dag("a")
        server.expire()
        assert client.get_dag("b") == {"dag_id": "b"}
    paths = [c[1] for c in server.calls]
    assert paths == ["/auth/token", "/api/v2/dags/a", "/api/v2/dags/b", "/auth/token",
                     "/api/v2/dags/b"]
    assert server.calls[-1][2] == "Bearer t3"


def test_a_refused_login_raises_naming_the_status() -> None:
    server = FakeAirflow(password="right")
    with _client(server, password="wrong") as client, \
            pytest.raises(AirflowError, match="login at http://airflow/auth/token failed: HTTP 401"):
        client.get_dag("a")


def test_wait_for_run_returns_a_finished_run_and_reports_progress() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            return httpx.Response(201, json={"access_token": "t"})
        if request.url.path.endswith("/taskInstances"):
            return httpx.Response(200, json={"task_instances": [{"task_id": "x"}]})
        return httpx.Response(200, json={"dag_run_id": "r1", "state": "success", "conf": {}})

    seen: list[list[dict]] = []
    with AirflowClient("http://airflow", "admin", "pw",
                       transport=httpx.MockTransport(handler)) as client:
        run = client.wait_for_run("d", "r1", timeout_s=5, on_progress=seen.append)
    assert run.state == "success" and seen == [[{"task_id": "x"}]]


def test_following_a_run_rides_out_airflow_errors_but_not_a_missing_run() -> None:
    """A 500 (Airflow's database restarting) or a refused connection is asked again; a 404 is
    final."""
    answers = iter([httpx.Response(500, json={"detail": "Database error"}),
                    httpx.ConnectError("refused"),
                    httpx.Response(200, json={"dag_run_id": "r1", "state": "running"}),
                    httpx.Response(200, json={"dag_run_id": "r1", "state": "success"})])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            return httpx.Response(201, json={"access_token": "t"})
        if request.url.path.endswith("/missing"):
            return httpx.Response(404, json={"detail": "no such run"})
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with AirflowClient("http://airflow", "admin", "pw",
                       transport=httpx.MockTransport(handler)) as client:
        assert client.wait_for_run("d", "r1", timeout_s=30).state == "success"
        with pytest.raises(AirflowError, match="HTTP 404"):
            client.wait_for_run("d", "missing", timeout_s=30)
