"""`harness report`, `harness compare`, `harness reports-index` and `harness report-demo`.

Imports of the report packages (matplotlib, numpy) are deferred to the handlers so that the rest of
the CLI starts fast.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _root(args: argparse.Namespace) -> Path:
    if args.reports_root is not None:
        return Path(args.reports_root)
    from experiments.report.settings import ReportSettings

    return ReportSettings().reports_root


def _report(args: argparse.Namespace) -> int:
    from experiments.metrics.store import MetricsSchemaError
    from experiments.report import render_report

    try:
        html = render_report(args.run_dir)
    except MetricsSchemaError as exc:
        log.error("cannot render %s: %s", args.run_dir, exc)
        return 2
    print(html)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from experiments.compare import compare
    from experiments.metrics.store import MetricsSchemaError
    from experiments.report import build_index
    from experiments.report.serve import comparison_name
    from experiments.report.settings import ReportSettings

    root = _root(args)
    name = comparison_name([args.name] if args.name else [Path(d).name for d in args.run_dirs])
    try:
        html = compare(args.run_dirs, root / "compare" / name, seed=ReportSettings().bootstrap_seed)
    except (MetricsSchemaError, ValueError) as exc:
        log.error("cannot compare: %s", exc)
        return 2
    build_index(root)
    print(html)
    return 0


def _index(args: argparse.Namespace) -> int:
    from experiments.report import build_index

    print(build_index(_root(args)))
    return 0


def _demo(args: argparse.Namespace) -> int:
    """Two synthetic experiments that differ only in backoff, their comparison and the index."""
    from experiments.compare import compare
    from experiments.metrics.synthetic import make_run
    from experiments.report import build_index, build_report

    root = _root(args)
    dirs = []
    for label, backoff, base_seed in (
        ("demo-backoff-0.1s", 0.1, 0),
        ("demo-backoff-2s", 2.0, 1000),
    ):
        runs = [
            make_run(base_seed + i, backoff=backoff, run_name=f"{label}-r{i}")
            for i in range(args.repeats)
        ]
        dirs.append(root / label)
        print(build_report(runs, dirs[-1]))
    print(compare(dirs, root / "compare" / "demo-backoff"))
    print(build_index(root))
    return 0


def register(subparsers: Any) -> None:
    """Add report, compare, reports-index and report-demo to the `harness` parser."""
    root_help = "reports folder (default: $HARNESS_REPORT_REPORTS_ROOT or ./reports)"

    p = subparsers.add_parser("report", help="re-render a run's report from its metrics.json")
    p.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="reports/<run> holding metrics.json"
    )
    p.set_defaults(func=_report)

    p = subparsers.add_parser("compare", help="compare runs side by side (first = baseline)")
    p.add_argument(
        "run_dirs", type=Path, nargs="+", metavar="RUN_DIR", help="two or more run report folders"
    )
    p.add_argument("--name", help="comparison name (default: the run folder names joined by -vs-)")
    p.add_argument("--reports-root", type=Path, default=None, help=root_help)
    p.set_defaults(func=_compare)

    p = subparsers.add_parser("reports-index", help="write reports/index.html listing all runs")
    p.add_argument("--reports-root", type=Path, default=None, help=root_help)
    p.set_defaults(func=_index)

    p = subparsers.add_parser(
        "report-demo", help="synthetic runs (two backoffs), their comparison and index"
    )
    p.add_argument("--reports-root", type=Path, default=None, help=root_help)
    p.add_argument("--repeats", type=int, default=5, help="repeats per backoff (default 5)")
    p.set_defaults(func=_demo)
