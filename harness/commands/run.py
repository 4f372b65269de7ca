"""`harness run SPEC.yaml [--set key=value ...]`: one experiment without Airflow (the same steps
the `experiment` DAG runs, in this process), and `harness pipeline start | stop | status`."""

from __future__ import annotations

import argparse
import json
import sys


def _run(args: argparse.Namespace) -> int:
    from experiments import spec as spec_module
    from experiments.runner import RunFailed, compare_with_previous, run_experiment
    from harness import pipeline

    try:
        spec = spec_module.apply_overrides(spec_module.load(args.spec), args.set or [])
    except spec_module.SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    pipeline.ensure_pipeline(workers=spec["workers"]["count"],
                             concurrency=spec["workers"]["concurrency"])
    try:
        handle = run_experiment(spec, label=args.label, progress=print)
    except RunFailed as exc:
        print(f"run {exc.handle.label} failed: {exc}", file=sys.stderr)
        print(f"partial report: {exc.handle.report_dir}/index.html", file=sys.stderr)
        return 1
    comparison = compare_with_previous(handle)
    print(f"report:     {handle.report_dir}/index.html")
    if comparison:
        print(f"comparison: {comparison}/index.html")
    return 0


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
    run = sub.add_parser("run", help="run one experiment spec directly (no Airflow)")
    run.add_argument("spec")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a spec field")
    run.add_argument("--label", help="the run's name and report folder (default: <name>-<time>)")
    run.set_defaults(func=_run)
    pipe = sub.add_parser("pipeline", help="the long-running pipeline: start | stop | status")
    pipe.add_argument("action", choices=["start", "stop", "status"])
    pipe.add_argument("--no-savepoint", action="store_true", help="stop: cancel the job instead")
    pipe.set_defaults(func=_pipeline)
