"""``harness reports serve [--port 8095] [--reports-root DIR]``: the reports folder on a local
web server, where the index's Compare button works (:mod:`experiments.report.serve`).

It listens on ``HARNESS_BIND_HOST`` (127.0.0.1 unless the stack is opened on purpose), rebuilds
reports/index.html when it starts, and runs until interrupted. Imports of the report packages are
deferred to the handler so that the rest of the CLI starts fast.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_PORT = 8095


def _serve(args: argparse.Namespace) -> int:
    from experiments.report import build_index
    from experiments.report.serve import ReportsServer
    from experiments.report.settings import ReportSettings
    from foundation.settings import get_settings

    settings = ReportSettings()
    root = args.reports_root if args.reports_root is not None else settings.reports_root
    build_index(root)
    try:
        server = ReportsServer(root, get_settings().bind_host, args.port,
                               seed=settings.bootstrap_seed)
    except OSError as exc:
        log.error("cannot listen on port %d: %s", args.port, exc)
        return 1
    print(f"serving {root} at {server.url} (index: {server.url}index.html); Ctrl-C stops",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def register(subparsers: Any) -> None:
    """Add `reports serve` to the `harness` parser."""
    parser = subparsers.add_parser(
        "reports",
        help="the reports folder on a local web server (the index's Compare button works there)",
        description="Tools over the reports folder.",
    )
    sub = parser.add_subparsers(dest="reports_command", metavar="SUBCOMMAND")
    sub.required = True
    p = sub.add_parser(
        "serve",
        help="serve the reports folder read-only, and compare the runs ticked in its index",
        description=(
            "Serve the reports folder read-only on HARNESS_BIND_HOST (127.0.0.1 by default) and "
            "answer POST /compare (the run folder names, as JSON) by running `harness compare`: "
            "open the printed URL, tick two or more runs, press Compare."
        ),
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--reports-root", type=Path, default=None,
                   help="reports folder (default: $HARNESS_REPORT_REPORTS_ROOT or ./reports)")
    p.set_defaults(func=_serve)
