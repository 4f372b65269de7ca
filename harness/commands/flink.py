"""`harness flink submit | status | stop`: the scoring job on the Flink session cluster
(the logic is in flink/control.py)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from flink.client import FlinkError
from flink.control import JobAlreadyRunning, ScoringJobControl, job_config


def _scorer_params(items: list[str]) -> dict[str, dict[str, Any]]:
    """["minilm.threads=2", ...] -> {"minilm": {"threads": 2}} (values parsed as JSON if they can be)."""
    params: dict[str, dict[str, Any]] = {}
    for item in items:
        name, eq, value = item.partition("=")
        scorer, dot, option = name.partition(".")
        if not (eq and dot and scorer and option):
            raise SystemExit(f"--scorer-param: expected SCORER.OPTION=VALUE, got {item!r}")
        try:
            parsed: Any = json.loads(value)
        except ValueError:
            parsed = value
        params.setdefault(scorer, {})[option] = parsed
    return params


def _config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    pairs = {
        "checkpoint_interval_s": args.checkpoint_interval,
        "window_s": args.window,
        "default_threshold": args.threshold,
        "default_max_rounds": args.max_rounds,
        "default_scorer": args.scorer,
        "max_batch": args.max_batch,
        "bundle_size": args.bundle_size,
    }
    overrides = {k: v for k, v in pairs.items() if v is not None}
    if args.scorer_param:
        overrides["scorer_params"] = _scorer_params(args.scorer_param)
    return overrides


def _submit(args: argparse.Namespace) -> int:
    config = job_config(**_config_overrides(args))
    with ScoringJobControl() as control:
        try:
            job_id = control.submit(
                config,
                parallelism=args.parallelism,
                from_savepoint=args.from_savepoint,
                force=args.force,
                wait_running_s=None if args.no_wait else args.timeout,
            )
        except JobAlreadyRunning as exc:
            print(exc, file=sys.stderr)
            return 2
        except FlinkError as exc:
            print(f"submit failed: {exc}", file=sys.stderr)
            return 1
    print(job_id)
    return 0


def _status(args: argparse.Namespace) -> int:
    name = job_config().job_name
    with ScoringJobControl() as control:
        status = control.status(name)
    print(json.dumps(status.as_dict(), indent=2) if args.json else status.describe())
    return 0 if status.state == "RUNNING" else 3


def _stop(args: argparse.Namespace) -> int:
    name = job_config().job_name
    with ScoringJobControl() as control:
        try:
            result = control.stop(
                name, savepoint=args.savepoint, target=args.target, timeout_s=args.timeout
            )
        except FlinkError as exc:
            print(f"stop failed: {exc}", file=sys.stderr)
            return 1
    if not result.job_ids:
        print(f"{name} is not running", file=sys.stderr)
        return 3
    print(result.savepoint if result.savepoint else "cancelled " + " ".join(result.job_ids))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    flink = sub.add_parser("flink", help="the Flink scoring job: submit | status | stop")
    commands = flink.add_subparsers(dest="flink_command", metavar="ACTION")
    commands.required = True

    submit = commands.add_parser(
        "submit",
        help="submit the scoring job (refuses a second copy unless --force); prints its id",
    )
    submit.add_argument("--parallelism", "-p", type=int, help="default: the cluster's")
    submit.add_argument(
        "--from-savepoint",
        metavar="PATH",
        help="resume from this savepoint ('latest': the last `stop --savepoint`)",
    )
    submit.add_argument(
        "--checkpoint-interval", type=float, metavar="S", help="seconds (default 5)"
    )
    submit.add_argument(
        "--window", type=float, metavar="S", help="live-metrics window in seconds (default 5)"
    )
    submit.add_argument(
        "--threshold", type=float, help="default score threshold (records may set their own)"
    )
    submit.add_argument("--max-rounds", type=int, help="default regeneration limit")
    submit.add_argument("--scorer", help="default scorer: lexical | minilm")
    submit.add_argument(
        "--scorer-param",
        action="append",
        default=[],
        metavar="SCORER.OPTION=VALUE",
        help="e.g. minilm.threads=1 (repeatable)",
    )
    submit.add_argument("--max-batch", type=int, help="records per scoring batch (default 64)")
    submit.add_argument(
        "--bundle-size",
        type=int,
        help="records per PyFlink bundle (default 128): outputs leave at bundle ends",
    )
    submit.add_argument("--force", action="store_true", help="submit even if a copy is running")
    submit.add_argument("--no-wait", action="store_true", help="do not wait for the tasks to run")
    submit.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for RUNNING")
    submit.set_defaults(func=_submit)

    status = commands.add_parser(
        "status", help="job state, checkpoints, last savepoint (exit 3 unless RUNNING)"
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_status)

    stop = commands.add_parser("stop", help="stop the job; with --savepoint, print its path")
    stop.add_argument("--savepoint", action="store_true", help="stop with a savepoint")
    stop.add_argument("--target", help="savepoint directory (default: the state folder's)")
    stop.add_argument("--timeout", type=float, default=180.0,
                      help="seconds to wait for the job to stop (default 180)")
    stop.set_defaults(func=_stop)
