"""Submitting PyFlink jobs to the session cluster and controlling them through its REST API.

Used by the scoring job's controller (flink/control.py) and by the stack's tests; the cluster's
address comes from the stack settings (``HARNESS_EXTERNAL_FLINK_URL`` or our own on
``flink_rest_port``), the Flink distribution and configuration from the state folder's layout.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from foundation.layout import Layout
from foundation.repo import REPO_ROOT
from foundation.settings import StackSettings, get_settings
from pipeline.waiting import wait_until

log = logging.getLogger(__name__)

_JOB_ID = re.compile(r"JobID ([0-9a-f]{32})")


class FlinkError(RuntimeError):
    """The cluster refused a request, or a job did not reach the wanted state in time."""


class FlinkClient:
    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or get_settings()
        self.layout = Layout.of(self.settings)
        self.url = self.settings.flink_url
        self._http = httpx.Client(base_url=self.url, timeout=30.0)

    def close(self) -> None:
        self._http.close()

    # -- submission ------------------------------------------------------------------------
    def submit(self, python_file: Path, args: Sequence[str] = (), *, detached: bool = True,
               parallelism: int | None = None, from_savepoint: str | None = None,
               python_files: Sequence[Path] = (), timeout_s: float = 180.0) -> str:
        """Submit PYTHON_FILE as a PyFlink job; return its job id.

        The client runs with the Flink environment's interpreter and our FLINK_CONF_DIR, so the
        job's Python workers get the same interpreter (python.executable in our config).
        """
        env = {**os.environ, **self.layout.flink_env()}
        env["PYTHONPATH"] = str(REPO_ROOT)
        flink = Path(env["FLINK_HOME"]) / "bin" / "flink"
        command = [str(flink), "run", "--jobmanager", self.url.split("://", 1)[-1]]
        if detached:
            command.append("--detached")
        if parallelism:
            command += ["--parallelism", str(parallelism)]
        if from_savepoint:
            command += ["--fromSavepoint", from_savepoint]
        for extra in python_files:
            command += ["--pyFiles", str(extra)]
        command += ["--python", str(python_file), *args]
        log.info("submitting %s to %s", python_file.name, self.url)
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s,
                                cwd=str(REPO_ROOT))
        match = _JOB_ID.search(result.stdout + result.stderr)
        if result.returncode != 0 or not match:
            raise FlinkError(f"flink run failed (exit {result.returncode}):\n"
                             f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        return match.group(1)

    # -- REST ------------------------------------------------------------------------------
    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 300:
            raise FlinkError(f"{method} {path}: HTTP {response.status_code}: {response.text[:1000]}")
        return response.json() if response.content else {}

    def jobs(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/jobs/overview")["jobs"])

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self._json("GET", f"/jobs/{job_id}"))

    def wait_for_state(self, job_id: str, states: set[str], timeout_s: float = 120.0) -> str:
        """Wait until the job is in one of STATES; a terminal state not wanted fails at once."""
        last = "unknown"

        def reached() -> str | None:
            nonlocal last
            last = str(self.job(job_id)["state"])
            if last in {"FAILED", "CANCELED", "FINISHED"} - states:
                raise FlinkError(f"job {job_id} is {last}: {self.exceptions(job_id)[:2000]}")
            return last if last in states else None

        return wait_until(reached, timeout_s, error=FlinkError, pause_s=0.2, max_pause_s=1.0,
                          what=lambda: f"job {job_id} still {last} after {timeout_s:.0f} s")

    def wait_until_running(self, job_id: str, timeout_s: float = 120.0) -> None:
        """RUNNING at the job level and every task RUNNING (sources actually reading)."""
        deadline = time.monotonic() + timeout_s
        self.wait_for_state(job_id, {"RUNNING"}, timeout_s)

        def all_running() -> bool:
            vertices = self.job(job_id).get("vertices", [])
            return bool(vertices) and all(v.get("status") == "RUNNING" for v in vertices)

        wait_until(all_running, deadline - time.monotonic(), error=FlinkError, pause_s=0.2,
                   max_pause_s=1.0,
                   what=f"job {job_id} tasks not all RUNNING after {timeout_s:.0f} s")

    def exceptions(self, job_id: str) -> str:
        try:
            data = self._json("GET", f"/jobs/{job_id}/exceptions")
        except FlinkError as exc:
            return str(exc)
        return str(data.get("root-exception") or data)

    def cancel(self, job_id: str) -> None:
        self._json("PATCH", f"/jobs/{job_id}", params={"mode": "cancel"})

    def stop_with_savepoint(self, job_id: str, target: str | None = None,
                            timeout_s: float = 180.0) -> str:
        """Stop the job with a savepoint; return the savepoint's location."""
        body: dict[str, Any] = {"drain": False}
        body["targetDirectory"] = target or f"file://{self.layout.flink_savepoints}"
        trigger = self._json("POST", f"/jobs/{job_id}/stop", json=body)["request-id"]

        def completed() -> dict[str, Any] | None:
            status = self._json("GET", f"/jobs/{job_id}/savepoints/{trigger}")
            return status if status["status"]["id"] == "COMPLETED" else None

        status = wait_until(completed, timeout_s, error=FlinkError, pause_s=0.2, max_pause_s=1.0,
                            what=f"savepoint of {job_id} not done after {timeout_s:.0f} s")
        operation = status.get("operation", {})
        if "failure-cause" in operation:
            raise FlinkError(f"savepoint failed: {operation['failure-cause']}")
        return str(operation["location"])
