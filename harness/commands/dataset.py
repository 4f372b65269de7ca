"""``harness dataset synth | inspect``: make a synthetic corpus, summarise a dataset file."""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pipeline.datasets import (
    TOPICS,
    DatasetError,
    detect_format,
    iter_questions,
    write_synthetic_csv,
)

log = logging.getLogger(__name__)


def _synth(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = write_synthetic_csv(out, rows=args.rows, seed=args.seed)
    elapsed = time.perf_counter() - started
    print(f"wrote {rows} rows (seed {args.seed}) to {out} in {elapsed:.2f} s")
    return 0


def summarize(
    path: Path, *, limit: int | None = None, skip_invalid: bool = False
) -> dict[str, Any]:
    """Counts of a dataset file: rows, per topic, empty fields, distinct ids, answer length."""
    fmt = detect_format(path)
    topics: Counter[str] = Counter()
    ids: set[str] = set()
    rows = empty_content = empty_answer = answer_words = 0
    for q in iter_questions(path, format=fmt, limit=limit, skip_invalid=skip_invalid):
        rows += 1
        topics[q.topic] += 1
        ids.add(q.id)
        empty_content += not q.content
        empty_answer += not q.best_answer
        answer_words += len(q.best_answer.split())
    return {
        "path": str(path),
        "format": fmt,
        "rows": rows,
        "distinct_ids": len(ids),
        "topics": {name: topics.get(name, 0) for name in TOPICS},
        "empty_content": empty_content,
        "empty_answer": empty_answer,
        "mean_answer_words": round(answer_words / rows, 1) if rows else 0.0,
    }


def _inspect(args: argparse.Namespace) -> int:
    try:
        summary = summarize(Path(args.file), limit=args.limit, skip_invalid=args.skip_invalid)
    except (DatasetError, OSError) as exc:
        log.error("cannot read %s: %s", args.file, exc)
        return 2
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    rows = summary["rows"]
    print(
        f"{summary['path']}: {summary['format']}, {rows} rows, {summary['distinct_ids']} distinct ids"
    )
    for name, count in summary["topics"].items():
        share = 100 * count / rows if rows else 0.0
        print(f"  {name:<24} {count:>9}  {share:5.1f}%")
    print(
        f"empty content: {summary['empty_content']}, empty answer: {summary['empty_answer']}, "
        f"mean answer words: {summary['mean_answer_words']}"
    )
    return 0


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "dataset",
        help="make or inspect question datasets",
        description="Yahoo! Answers datasets: the 4-column CSV, the Hugging Face layout, and a "
        "deterministic synthetic corpus of the same shape.",
    )
    sub = parser.add_subparsers(dest="dataset_command", metavar="ACTION")
    sub.required = True

    synth = sub.add_parser(
        "synth", help="write a synthetic corpus as a 4-column Yahoo! Answers CSV"
    )
    synth.add_argument(
        "--rows", type=_non_negative, default=10_000, help="number of rows (default 10000)"
    )
    synth.add_argument("--seed", type=_non_negative, default=0, help="random seed (default 0)")
    synth.add_argument("--out", required=True, help="output file (.csv, or .csv.gz to compress)")
    synth.set_defaults(func=_synth)

    inspect = sub.add_parser("inspect", help="count rows and topics of a dataset file")
    inspect.add_argument(
        "file", help="4-column CSV, or HF layout (.csv with header, .jsonl, .parquet)"
    )
    inspect.add_argument(
        "--limit", type=_non_negative, default=None, help="read at most this many rows"
    )
    inspect.add_argument(
        "--skip-invalid", action="store_true", help="skip malformed rows instead of failing"
    )
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    inspect.set_defaults(func=_inspect)


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value
