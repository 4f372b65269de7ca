"""``harness collect EXPERIMENT_ID --out RUN_DIR``: stored telemetry -> RunData -> the run's report.

Writes RUN_DIR/run.json (the RunData, for offline re-analysis), metrics.json, questions.csv and
the report, and prints the report's path. The database is the one of ``HARNESS_DB_DSN``
(services.env). Heavy imports are deferred to the handler so the rest of the CLI starts fast.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RUN_FILE = "run.json"


def _sim_counters(path: Path | None) -> dict[str, float] | None:
    """A JSON file with either the delta itself or ``{"before": snapshot, "after": snapshot}``."""
    if path is None:
        return None
    from experiments.collect import counter_delta

    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and "after" in data:
        return counter_delta(data.get("before"), data["after"])
    return {str(k): float(v) for k, v in data.items()}


def _collect(args: argparse.Namespace) -> int:
    from experiments import spec as specs
    from experiments.collect import ExperimentNotFound, MetaOverrides, collect_run
    from experiments.report import build_report
    from pipeline.storage.settings import DatabaseSettings

    out = Path(args.out)
    spec = specs.load(args.spec) if args.spec else None
    overrides = MetaOverrides(run_name=args.run_name or out.name, warmup_s=args.warmup_s,
                              slo_s=args.slo_s)
    dsn = DatabaseSettings().dsn.get_secret_value()
    try:
        collected = collect_run(dsn, args.experiment_id, spec=spec, overrides=overrides,
                                sim_counters=_sim_counters(args.sim_counters))
    except ExperimentNotFound as exc:
        log.error("%s", exc)
        return 2
    stats = collected.stats
    if stats.in_flight:
        log.warning("%d question(s) still in flight: their latency is unknown (censored)",
                    stats.in_flight)
    out.mkdir(parents=True, exist_ok=True)
    collected.run.save(out / RUN_FILE)
    html = build_report(collected.run, out, cooldown_s=args.cooldown_s)
    log.info("%s: %d LLM passes %s, %d cache hits, %d coalesced asks", args.experiment_id,
             stats.llm_passes, stats.by_state, stats.cache_hits, stats.coalesced)
    print(html)
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "collect", help="collect an experiment's telemetry from PostgreSQL and build its report"
    )
    parser.add_argument("experiment_id", help="the experiment id of the stored telemetry")
    parser.add_argument("--out", required=True, type=Path,
                        help="the run's report folder, e.g. reports/<run>")
    parser.add_argument(
        "--spec", type=Path, default=None,
        help="the experiment spec YAML (default: the one stored with the experiment)",
    )
    parser.add_argument("--run-name", default=None,
                        help="name in the report (default: the folder's)")
    parser.add_argument("--warmup-s", type=float, default=None,
                        help="warm-up trimmed from the steady state (default: the spec's)")
    parser.add_argument(
        "--slo-s", type=float, default=None,
        help="end-to-end latency objective for goodput; 0 = none (default: the spec's)",
    )
    parser.add_argument("--cooldown-s", type=float, default=0.0,
                        help="seconds trimmed before the end of the load (default 0)")
    parser.add_argument("--sim-counters", type=Path, default=None,
                        help="JSON: the simulator's counter delta, or {before, after} snapshots")
    parser.set_defaults(func=_collect)
