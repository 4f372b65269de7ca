"""``harness worker``: one asynchronous LLM worker process (qa.questions -> LLM -> ...)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

log = logging.getLogger(__name__)


def _run(args: argparse.Namespace) -> int:
    from pipeline.worker.runner import run_worker
    from pipeline.worker.service import WorkerFailed

    try:
        run_worker(args.index, health_port=args.health_port)
    except WorkerFailed as exc:
        log.error("worker %d failed: %s (uncommitted records will be redelivered)", args.index, exc)
        return 1
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("worker", help="run one LLM worker")
    parser.add_argument("--index", type=int, default=0,
                        help="worker number: its static group member id and health port offset")
    parser.add_argument("--health-port", type=int, default=None,
                        help="GET /health port (default: HARNESS_WORKER_HEALTH_PORT + index)")
    parser.set_defaults(func=_run)
