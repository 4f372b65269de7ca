"""`harness demo`: runs the demo through Airflow's REST API on the running stack and says where
to look. (Until the experiment DAG exists, the demo is the `smoke` DAG.)"""

from __future__ import annotations

import argparse
import time

from harness.airflow_api import AirflowClient
from harness.stack.manager import Stack

DEMO_DAG = "smoke"


def _demo(args: argparse.Namespace) -> int:
    endpoints = Stack().endpoints()
    started = time.monotonic()
    with AirflowClient(endpoints.airflow_url, endpoints.airflow_user, endpoints.airflow_password) as client:
        client.wait_for_dag(DEMO_DAG, timeout_s=180)
        run = client.trigger(DEMO_DAG, conf={"message": "hello from make demo"})
        print(f"triggered {DEMO_DAG} run {run.run_id}")
        seen: set[tuple[str, str]] = set()

        def progress(tis: list[dict]) -> None:
            for ti in tis:
                key = (ti["task_id"], str(ti["state"]))
                if key not in seen and ti["state"]:
                    seen.add(key)
                    print(f"  {ti['task_id']:<28} {ti['state']}")

        finished = client.wait_for_run(DEMO_DAG, run.run_id, timeout_s=args.timeout, on_progress=progress)
    print(f"\n{DEMO_DAG} finished: {finished.state} in {time.monotonic() - started:.0f} s")
    print(f"Airflow UI: {endpoints.airflow_url}  login: {endpoints.airflow_user} / {endpoints.airflow_password}")
    print(f"run: {endpoints.airflow_url}/dags/{DEMO_DAG}/runs/{run.run_id}")
    return 0 if finished.state == "success" else 1


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser("demo", help="run the demo through Airflow on the running stack")
    demo.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the run")
    demo.set_defaults(func=_demo)
