"""``harness storage``: the storage service (qa.results + qa.dlq -> PostgreSQL)."""

from __future__ import annotations

import argparse
import threading
from typing import Any


def _run(args: argparse.Namespace) -> int:
    from pipeline.kafka.signals import install_stop_handlers
    from pipeline.storage.service import run_storage

    stop = threading.Event()
    install_stop_handlers(stop)
    run_storage(stop, health_port=args.health_port)
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("storage", help="run the storage service")
    parser.add_argument("--health-port", type=int, default=None,
                        help="GET /health port (default: HARNESS_STORAGE_HEALTH_PORT)")
    parser.set_defaults(func=_run)
