"""`harness trigger SPEC.yaml [--set key=value ...]`: run the `experiment` DAG through Airflow's
REST API, follow it with live progress read from PostgreSQL (questions sent, answered, in flight,
latency and errors so far; the DAG's task changes as notes), and end with the run's summary and
pass/fail as the exit code (see :mod:`experiments.run_summary`)."""

from __future__ import annotations

import argparse
from typing import Any

from experiments.run_summary import EXIT_CODES_HELP, EXIT_INVALID
from harness.airflow_api import AirflowClient, xcom_value
from harness.commands._follow import (
    TaskChanges,
    add_refresh_argument,
    add_spec_arguments,
    end_of_run,
    live_progress,
    load_spec,
)
from harness.live_progress import DEFAULT_INTERVAL_S
from harness.stack.manager import Stack, airflow_login_line

DAG_ID = "experiment"


def trigger_and_follow(conf: dict[str, Any], timeout_s: float, wait: bool = True,
                       refresh_s: float = DEFAULT_INTERVAL_S) -> int:
    """Trigger the DAG with CONF (a spec), follow it until it ends, print the summary; the exit
    code of :class:`experiments.run_summary.RunSummary` (0 when not waiting)."""
    from experiments import spec as spec_module
    from experiments.runner import run_label

    stack = Stack()
    endpoints = stack.endpoints()
    login = airflow_login_line(endpoints.airflow_url, endpoints.airflow_user,
                               stack.airflow_password_file())
    with AirflowClient(endpoints.airflow_url, endpoints.airflow_user,
                       endpoints.airflow_password) as client:
        client.wait_for_dag(DAG_ID, timeout_s=180)
        # the run id names the experiment (and its report folder): demo-20261201-194058
        run = client.trigger(DAG_ID, conf=spec_module.flatten(conf), run_id=run_label(conf["name"]))
        print(f"triggered {DAG_ID} run {run.run_id}: "
              f"{endpoints.airflow_url}/dags/{DAG_ID}/runs/{run.run_id}")
        if not wait:
            print(login)
            return 0
        with live_progress(run.run_id, refresh_s) as live:
            finished = client.wait_for_run(DAG_ID, run.run_id, timeout_s=timeout_s,
                                           on_progress=TaskChanges(live.note))
        report = xcom_value(client, DAG_ID, run.run_id, "collect_and_report")
        comparison = xcom_value(client, DAG_ID, run.run_id, "compare_with_previous")
    reason = None if finished.state == "success" else f"the DAG run ended {finished.state}"
    code = end_of_run(run.run_id, live.last, finished.state, reason, report, comparison)
    print(login)
    return code


def _trigger(args: argparse.Namespace) -> int:
    spec = load_spec(args)
    if spec is None:
        return EXIT_INVALID
    return trigger_and_follow(spec, args.timeout, wait=not args.no_wait, refresh_s=args.refresh)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    trigger = sub.add_parser(
        "trigger", help="run an experiment spec through the Airflow `experiment` DAG, with live "
                        "progress and a pass/fail summary",
        description="Trigger the Airflow `experiment` DAG with a spec (validated first), follow "
        "the run with live progress read from PostgreSQL (questions sent / answered / in flight, "
        "e2e p50 / p99 so far, error rate; the DAG's task changes as notes), then print its "
        "summary: status and reason, questions, latency, goodput, LLM calls per question, audit, "
        "SLO verdict, report path. The Airflow password is never printed: its file is named.",
        epilog=EXIT_CODES_HELP,
    )
    add_spec_arguments(trigger)
    trigger.add_argument("--timeout", type=float, default=3600.0,
                         help="seconds to follow the run (default 3600)")
    trigger.add_argument("--no-wait", action="store_true",
                         help="trigger and return at once (exit 0), without progress or summary")
    add_refresh_argument(trigger)
    trigger.set_defaults(func=_trigger)
