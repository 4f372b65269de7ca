"""A small client of Airflow 3's REST API (token auth, DAG runs), used by the CLI and the tests."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

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


class AirflowClient:
    def __init__(self, base_url: str, username: str, password: str, timeout_s: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s, transport=transport)
        self._token: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _auth(self) -> dict[str, str]:
        if self._token is None:
            response = self._http.post("/auth/token",
                                       json={"username": self._username, "password": self._password})
            if response.status_code >= 300:
                raise AirflowError(f"login to {self.base_url} failed: HTTP {response.status_code}")
            self._token = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, headers=self._auth(), **kwargs)
        if response.status_code == 401:  # token expired: log in again once
            self._token = None
            response = self._http.request(method, path, headers=self._auth(), **kwargs)
        return response

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
        deadline = time.monotonic() + timeout_s
        while True:
            dag = self.get_dag(dag_id)
            if dag is not None:
                return dag
            errors = [e for e in self.import_errors() if dag_id in str(e.get("filename", ""))]
            if errors:
                raise AirflowError(f"DAG {dag_id} does not import: {errors[0].get('stack_trace', '')[-2000:]}")
            if time.monotonic() > deadline:
                raise AirflowError(f"DAG {dag_id} not parsed within {timeout_s:.0f} s")
            time.sleep(1.0)

    def unpause(self, dag_id: str) -> None:
        self._json("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

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
        deadline = time.monotonic() + timeout_s
        while True:
            run = self.get_run(dag_id, run_id)
            if on_progress is not None:
                on_progress(self.task_instances(dag_id, run_id))
            if run.state in TERMINAL_STATES:
                return run
            if time.monotonic() > deadline:
                raise AirflowError(f"run {run_id} of {dag_id} still {run.state} after {timeout_s:.0f} s")
            time.sleep(1.0)


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
