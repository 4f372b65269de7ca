"""``harness events-sink``: qa.events -> the events table."""

from __future__ import annotations

import argparse
import threading
from typing import Any


def _run(args: argparse.Namespace) -> int:
    from pipeline.events.sink import run_event_sink
    from pipeline.kafka.signals import install_stop_handlers

    stop = threading.Event()
    install_stop_handlers(stop)
    run_event_sink(stop, health_port=args.health_port)
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("events-sink", help="run the event sink (qa.events -> PostgreSQL)")
    parser.add_argument("--health-port", type=int, default=None,
                        help="GET /health port (default: HARNESS_EVENT_SINK_HEALTH_PORT)")
    parser.set_defaults(func=_run)
