"""`harness up | down | status | logs SERVICE`."""

from __future__ import annotations

import argparse
import sys

from harness.stack.manager import Stack, format_status, status_json


def _up(args: argparse.Namespace) -> int:
    stack = Stack()
    stack.up(with_pipeline=not args.infra_only)
    print(format_status(stack.status()))
    return 0


def _down(args: argparse.Namespace) -> int:
    left = Stack().down()
    if left:
        print("processes still alive after down:\n  " + "\n  ".join(left), file=sys.stderr)
        return 1
    print("stack stopped")
    return 0


def _status(args: argparse.Namespace) -> int:
    status = Stack().status()
    print(status_json(status) if args.json else format_status(status))
    return 0 if all(s["healthy"] for s in status["services"]) else 3


def _logs(args: argparse.Namespace) -> int:
    return Stack().logs(args.service, follow=args.follow, lines=args.lines)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    up = sub.add_parser(
        "up", help="start the local stack (idempotent) and wait until it is healthy",
        description="Start what is not running (Kafka, Flink, PostgreSQL, Airflow, then the "
        "pipeline's services) under supervisord and wait until every service answers its "
        "readiness probe; then print the status table. Running it twice is harmless. The Airflow "
        "password is never printed: the table names the file that keeps it.",
    )
    up.add_argument("--infra-only", action="store_true",
                    help="Kafka, Flink, PostgreSQL and Airflow only, not the pipeline services")
    up.set_defaults(func=_up)
    down = sub.add_parser(
        "down", help="stop everything `up` started",
        description="Stop every service and supervisord, then end any process the stack started "
        "that outlived its service; exit 1 (naming them) if some survive.",
    )
    down.set_defaults(func=_down)
    status = sub.add_parser(
        "status", help="each service with its URL and health (exit 3 if unhealthy)",
        description="Each service with its state, health, pid, uptime, restart count and URL, "
        "and where to log in to Airflow (the password's file, never the password); exit 3 when "
        "a service is not healthy.",
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_status)
    logs = sub.add_parser("logs", help="the log of one service (its last lines, or follow it)")
    logs.add_argument("service", help="a service name as `harness status` lists it, e.g. kafka, "
                                      "worker-0, airflow-scheduler")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--lines", type=int, default=100,
                      help="how many of the last lines to print (default 100)")
    logs.set_defaults(func=_logs)
