"""``harness generate``: send a load to the pipeline (arrival process, repeats, storage check)."""

from __future__ import annotations

import argparse
import json
import threading
import uuid
from pathlib import Path
from typing import Any


def _json_arg(text: str | None) -> Any:
    """Inline JSON, or @path to a JSON file."""
    if text is None:
        return None
    if text.startswith("@"):
        return json.loads(Path(text[1:]).read_text(encoding="utf-8"))
    return json.loads(text)


def _run(args: argparse.Namespace) -> int:
    from pipeline.datasets import load_questions, synthesize
    from pipeline.generator.load import run_load
    from pipeline.kafka.signals import install_stop_handlers

    if args.dataset:
        questions = load_questions(args.dataset, limit=args.questions)
    else:
        questions = list(synthesize(args.questions or 1000, seed=args.seed))
    arrival = _json_arg(args.arrival) or {"kind": args.kind, "rate": args.rate}
    policy = _json_arg(args.policy) or {}
    experiment_id = args.experiment_id or f"adhoc-{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    install_stop_handlers(stop)
    summary = run_load(experiment_id, questions, arrival, policy, duration_s=args.duration,
                       count=args.count, repeat_share=args.repeat_share, seed=args.seed, stop=stop)
    print(json.dumps(summary.to_dict(), indent=2))
    return 0 if summary.failed == 0 else 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "generate", help="send traffic to the pipeline",
        description="Send questions to qa.questions on an arrival schedule (intended send times "
        "stamped on every record), serving repeats already answered from storage.",
    )
    parser.add_argument("--experiment-id", help="default: adhoc-<random>")
    parser.add_argument("--dataset", type=Path, help="Yahoo! Answers CSV or HF file; default synthetic")
    parser.add_argument("--questions", type=int, default=None, help="questions to load (synthetic: 1000)")
    parser.add_argument("--arrival", help='arrival spec JSON or @file, e.g. \'{"kind":"gamma","rate":50,"cv":3}\'')
    parser.add_argument("--kind", default="poisson", help="arrival kind when --arrival is not given")
    parser.add_argument("--rate", type=float, default=10.0, help="requests/s when --arrival is not given")
    parser.add_argument("--duration", type=float, default=None, help="seconds of schedule")
    parser.add_argument("--count", type=int, default=None, help="arrivals (default: one per question)")
    parser.add_argument("--repeat-share", type=float, default=0.0, help="share of repeated questions")
    parser.add_argument("--policy", help="ExperimentPolicy JSON or @file (retry spec, threshold...)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the arrival schedule and the synthetic questions (default 0)")
    parser.set_defaults(func=_run)
