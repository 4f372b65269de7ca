"""`harness trigger SPEC.yaml [--set key=value ...]`: run the `experiment` DAG through Airflow's
REST API, follow it with a progress bar, and print where the report is."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from harness.airflow_api import AirflowClient, xcom_value
from harness.stack.manager import Stack

DAG_ID = "experiment"


class Progress:
    """One line per task state change; on a terminal, a bar redrawn in place."""

    def __init__(self, stream: Any = sys.stdout) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.seen: dict[str, str] = {}
        self.started = time.monotonic()

    def __call__(self, tis: list[dict[str, Any]]) -> None:
        done = sum(1 for ti in tis if ti.get("state") in {"success", "skipped", "failed",
                                                        "upstream_failed"})
        total = max(len(tis), 1)
        running = [ti["task_id"] for ti in tis if ti.get("state") in {"running", "up_for_reschedule",
                                                                      "queued", "deferred"}]
        changes = [(ti["task_id"], ti.get("state")) for ti in tis
                   if ti.get("state") and self.seen.get(ti["task_id"]) != ti.get("state")]
        for task_id, state in changes:
            self.seen[task_id] = str(state)
        width = 30
        bar = "#" * (width * done // total) + "." * (width - width * done // total)
        line = (f"[{bar}] {done}/{total} tasks  {time.monotonic() - self.started:5.0f}s  "
                f"{', '.join(running) or ''}")
        if self.tty:
            self.stream.write("\r" + line.ljust(110))
            if changes and any(s in {"success", "failed"} for _, s in changes):
                self.stream.write("\n")
        elif changes:
            for task_id, state in changes:
                self.stream.write(f"  {task_id:<24} {state}\n")
            self.stream.write(line + "\n")
        self.stream.flush()


def trigger_and_follow(conf: dict[str, Any], timeout_s: float, wait: bool = True) -> int:
    from experiments import spec as spec_module

    endpoints = Stack().endpoints()
    with AirflowClient(endpoints.airflow_url, endpoints.airflow_user, endpoints.airflow_password) as client:
        client.wait_for_dag(DAG_ID, timeout_s=180)
        from experiments.runner import run_label

        # the run id names the experiment (and its report folder): demo-20261201-194058
        run = client.trigger(DAG_ID, conf=spec_module.flatten(conf), run_id=run_label(conf["name"]))
        print(f"triggered {DAG_ID} run {run.run_id}: {endpoints.airflow_url}/dags/{DAG_ID}/runs/{run.run_id}")
        if not wait:
            return 0
        finished = client.wait_for_run(DAG_ID, run.run_id, timeout_s=timeout_s, on_progress=Progress())
        report = xcom_value(client, DAG_ID, run.run_id, "collect_and_report")
        comparison = xcom_value(client, DAG_ID, run.run_id, "compare_with_previous")
    print(f"\n{DAG_ID} run {run.run_id}: {finished.state}")
    if report:
        print(f"report:     {report}/index.html")
    if comparison:
        print(f"comparison: {comparison}/index.html")
    print(f"Airflow UI: {endpoints.airflow_url}  login: {endpoints.airflow_user} (password in "
          f"{Stack().layout.secrets}/airflow_admin_password)")
    return 0 if finished.state == "success" else 1


def _trigger(args: argparse.Namespace) -> int:
    from experiments import spec as spec_module

    try:
        spec = spec_module.apply_overrides(spec_module.load(args.spec), args.set or [])
    except spec_module.SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return trigger_and_follow(spec, args.timeout, wait=not args.no_wait)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    trigger = sub.add_parser("trigger", help="run an experiment spec through the Airflow `experiment` DAG")
    trigger.add_argument("spec", help="a spec file, e.g. experiments/specs/demo.yaml")
    trigger.add_argument("--set", action="append", metavar="KEY=VALUE",
                         help="override a spec field, e.g. --set retry.base_s=0.5 (repeatable)")
    trigger.add_argument("--timeout", type=float, default=3600.0, help="seconds to follow the run")
    trigger.add_argument("--no-wait", action="store_true", help="trigger and return")
    trigger.set_defaults(func=_trigger)
