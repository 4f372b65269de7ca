"""The note of an experiment's Airflow run: what was tested, where the report is, how it ended.

Airflow names a run triggered from the form ``manual__<time>``; the note (shown on the run's page
and in the runs list) says which experiment it is. Writing a note never fails a task: Airflow
being unreachable costs the note, not the run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

NOTE_LIMIT = 1000  # Airflow's limit on a run's note


def describe_run(spec: Mapping[str, Any], report_dir: str, status: str | None = None,
                 reason: str | None = None) -> str:
    """One short Markdown note: name, key parameters, report, and the ending when known."""
    retry, arrival, llm = spec.get("retry", {}), spec.get("arrival", {}), spec.get("llm", {})
    policy = f"{retry.get('kind', '?')}"
    if retry.get("jitter") not in (None, "none"):
        policy += f" + {retry['jitter']} jitter"
    if retry.get("base_s") is not None:
        policy += f", base {retry['base_s']} s"
    if retry.get("cap_s") is not None:
        policy += f", cap {retry['cap_s']} s"
    lines = [
        f"**{spec.get('name', '?')}**: policy {policy}; profile {llm.get('profile', '?')}; "
        f"{arrival.get('kind', '?')} {arrival.get('rate', '?')}/s for "
        f"{arrival.get('duration_s', '?')} s",
        f"report: {report_dir}/index.html",
    ]
    if status:
        lines.append(f"status: **{status}**" + (f": {reason}" if reason else ""))
    note = "\n\n".join(lines)
    return note if len(note) <= NOTE_LIMIT else note[: NOTE_LIMIT - 1] + "…"


def set_note(dag_id: str, run_id: str, note: str) -> bool:
    """Set the run's note through the REST API; False (logged) when it could not be written."""
    from harness.airflow_api import AirflowClient
    from harness.stack.manager import Stack

    try:
        endpoints = Stack().endpoints()
        with AirflowClient(endpoints.airflow_url, endpoints.airflow_user,
                           endpoints.airflow_password) as client:
            response = client.request("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}",
                                      params={"update_mask": "note"}, json={"note": note})
        if response.status_code >= 300:
            log.warning("note of %s/%s not written: HTTP %s %s", dag_id, run_id,
                        response.status_code, response.text[:200])
            return False
        return True
    except Exception as exc:  # a note is a courtesy: never fail the run for it
        log.warning("note of %s/%s not written: %s: %s", dag_id, run_id, type(exc).__name__, exc)
        return False
