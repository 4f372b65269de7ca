"""``harness relay``: the retry relay (qa.retry.<tier> -> qa.questions when due)."""

from __future__ import annotations

import argparse
import threading
from typing import Any


def _run(args: argparse.Namespace) -> int:
    from pipeline.kafka.signals import install_stop_handlers
    from pipeline.relay.service import run_relay

    stop = threading.Event()
    install_stop_handlers(stop)
    run_relay(stop, health_port=args.health_port)
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("relay", help="run the retry relay")
    parser.add_argument("--health-port", type=int, default=None,
                        help="GET /health port (default: HARNESS_RELAY_HEALTH_PORT)")
    parser.set_defaults(func=_run)
