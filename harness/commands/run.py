"""`harness run SPEC.yaml [--set key=value ...]`: one experiment without Airflow (the same steps
the `experiment` DAG runs, in this process), and `harness pipeline start | stop | status`."""

from __future__ import annotations

import argparse
import json
import re

from experiments.run_summary import EXIT_CODES_HELP, EXIT_INVALID
from harness.commands._follow import (
    add_refresh_argument,
    add_spec_arguments,
    end_of_run,
    live_progress,
    load_spec,
)


def _label(text: str) -> str:
    """A run label as the runs table and the report folder name it."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", text):
        raise argparse.ArgumentTypeError(f"letters, digits, '_', '.' and '-' only, got {text!r}")
    return text


def _run(args: argparse.Namespace) -> int:
    from experiments.runner import RunFailed, compare_with_previous, run_experiment, run_label
    from harness import pipeline

    spec = load_spec(args)
    if spec is None:
        return EXIT_INVALID
    pipeline.ensure_pipeline(workers=spec["workers"]["count"],
                             concurrency=spec["workers"]["concurrency"])
    label = args.label or run_label(spec["name"])
    failure: RunFailed | None = None
    with live_progress(label, args.refresh) as live:
        try:
            handle = run_experiment(spec, label=label, progress=live.note)
        except RunFailed as exc:  # its partial report was written: summarised below
            failure = exc
    if failure is not None:
        return end_of_run(label, live.last, "failed", str(failure), failure.handle.report_dir)
    comparison = compare_with_previous(handle)
    return end_of_run(label, live.last, "finished", None, handle.report_dir, comparison)


def _pipeline(args: argparse.Namespace) -> int:
    from harness import pipeline

    if args.action == "start":
        print(f"scoring job: {pipeline.ensure_pipeline()}")
    elif args.action == "stop":
        print(json.dumps(pipeline.stop(savepoint=not args.no_savepoint), indent=2))
    health = pipeline.service_health()
    job = pipeline.flink_job_running()
    for name, result in sorted(health.items()):
        print(f"{name:<16} {'healthy' if result.ok else 'NOT healthy'}  {result.detail}")
    print(f"{'scoring job':<16} {'running' if job.ok else 'NOT running'}  {job.detail}")
    return 0 if args.action == "stop" or (job.ok and all(r.ok for r in health.values())) else 3


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    run = sub.add_parser(
        "run", help="run one experiment spec in this process (no Airflow), with live progress",
        description="Run one experiment spec in this process: the same steps as the Airflow "
        "`experiment` DAG (register, load, drain, collect, report, audit, compare), with live "
        "progress (questions sent / answered / in flight, latency and errors so far, read from "
        "PostgreSQL) and a summary at the end. The stack must be up (`harness up`).",
        epilog=EXIT_CODES_HELP,
    )
    add_spec_arguments(run)
    run.add_argument("--label", type=_label,
                     help="the run's name and report folder (default: <name>-<time>)")
    add_refresh_argument(run)
    run.set_defaults(func=_run)
    pipe = sub.add_parser(
        "pipeline", help="the long-running pipeline: start | stop | status",
        description="Start (topics, services, the Flink scoring job), stop, or check the "
        "pipeline's services and scoring job; exit 3 when something is not healthy.",
    )
    pipe.add_argument("action", choices=["start", "stop", "status"],
                      help="start: ensure everything runs; stop: stop the scoring job "
                           "(with a savepoint); status: health only")
    pipe.add_argument("--no-savepoint", action="store_true", help="stop: cancel the job instead")
    pipe.set_defaults(func=_pipeline)
