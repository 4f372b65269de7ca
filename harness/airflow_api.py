"""A small client of Airflow 3's REST API (token auth, DAG runs), used by the CLI and the tests."""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx

from pipeline.waiting import wait_until

log = logging.getLogger(__name__)

TERMINAL_STATES = {"success", "failed"}


class AirflowError(RuntimeError):
    """Airflow answered with an error, or a run did not finish in time."""


@dataclass
class DagRun:
    dag_id: str
    run_id: str
    state: str
    conf: dict[str, Any]


class TokenAuth(httpx.Auth):
    """Bearer-token authentication against Airflow 3's ``POST /auth/token``.

    The first request logs in; the token is then sent with every request. A 401 (the token
    expired, or the API server restarted with a new secret) logs in again and repeats the
    request once; a second 401 is returned to the caller as it is.
    """

    requires_response_body = True  # the login response's JSON carries the token

    def __init__(self, token_url: str, username: str, password: str) -> None:
        self.token_url = token_url
        self._credentials = {"username": username, "password": password}
        self._token: str | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._token is None:
            self._token = yield from self._login()
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            self._token = yield from self._login()
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request

    def _login(self) -> Generator[httpx.Request, httpx.Response, str]:
        response = yield httpx.Request("POST", self.token_url, json=self._credentials)
        if response.status_code >= 300:
            raise AirflowError(f"login at {self.token_url} failed: HTTP {response.status_code}")
        return str(response.json()["access_token"])


class AirflowClient:
    def __init__(self, base_url: str, username: str, password: str, timeout_s: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s, transport=transport,
                                  auth=TokenAuth(f"{self.base_url}/auth/token", username, password))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._http.request(method, path, **kwargs)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code >= 300:
            raise AirflowError(f"{method} {path}: HTTP {response.status_code}: {response.text[:2000]}")
        return response.json()

    # -- DAGs ------------------------------------------------------------------------------
    def get_dag(self, dag_id: str) -> dict[str, Any] | None:
        response = self.request("GET", f"/api/v2/dags/{dag_id}")
        if response.status_code == 404:
            return None
        if response.status_code >= 300:
            raise AirflowError(f"GET dag {dag_id}: HTTP {response.status_code}: {response.text[:500]}")
        return dict(response.json())

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/api/v2/importErrors").get("import_errors", []))

    def wait_for_dag(self, dag_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
        """Wait until the dag-processor has parsed DAG_ID (fails early on an import error)."""
        def parsed() -> dict[str, Any] | None:
            dag = self.get_dag(dag_id)
            if dag is not None:
                return dag
            errors = [e for e in self.import_errors() if dag_id in str(e.get("filename", ""))]
            if errors:
                raise AirflowError(f"DAG {dag_id} does not import: {errors[0].get('stack_trace', '')[-2000:]}")
            return None

        return wait_until(parsed, timeout_s, pause_s=0.5, max_pause_s=1.0, error=AirflowError,
                          what=f"DAG {dag_id} not parsed within {timeout_s:.0f} s")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None,
                run_id: str | None = None) -> DagRun:
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        data = self._json("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        return DagRun(dag_id, data["dag_run_id"], data["state"], data.get("conf") or {})

    def get_run(self, dag_id: str, run_id: str) -> DagRun:
        data = self._json("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        return DagRun(dag_id, data["dag_run_id"], data["state"], data.get("conf") or {})

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        data = self._json("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return list(data.get("task_instances", []))

    def wait_for_run(self, dag_id: str, run_id: str, timeout_s: float = 600.0,
                     on_progress: Callable[[list[dict[str, Any]]], None] | None = None) -> DagRun:
        """Poll the run until success or failure; raise AirflowError at the deadline."""
        state = "unknown"

        def finished() -> DagRun | None:
            nonlocal state
            try:
                run = self.get_run(dag_id, run_id)
                if on_progress is not None:
                    on_progress(self.task_instances(dag_id, run_id))
            except (httpx.TransportError, AirflowError) as exc:
                # Airflow restarting, or its database (a 5xx): a follower rides it out; a 4xx
                # (no such run, no access) is final
                if isinstance(exc, AirflowError) and ": HTTP 5" not in str(exc):
                    raise
                log.warning("run %s of %s: Airflow did not answer (%s); asking again", run_id,
                            dag_id, str(exc)[:200])
                return None
            state = run.state
            return run if run.state in TERMINAL_STATES else None

        return wait_until(finished, timeout_s, pause_s=0.5, max_pause_s=1.0, error=AirflowError,
                          what=lambda: f"run {run_id} of {dag_id} still {state} after {timeout_s:.0f} s")


def xcom_value(client: AirflowClient, dag_id: str, run_id: str, task_id: str,
               key: str = "return_value") -> Any:
    """A task's XCom value (None when the task pushed none)."""
    response = client.request(
        "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")
    if response.status_code == 404:
        return None
    if response.status_code >= 300:
        raise AirflowError(f"xcom {task_id}/{key}: HTTP {response.status_code}: {response.text[:500]}")
    return response.json().get("value")
