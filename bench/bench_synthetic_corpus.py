"""Synthetic corpus throughput: generate, write (4-column CSV) and read back N rows.

    .state/venv/bin/python bench/bench_synthetic_corpus.py [--rows 100000] [--seed 42]

Prints seconds and rows/s per step. The issue asks for 100,000 rows "in seconds".
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pipeline.datasets import load_questions, synthesize, write_yahoo_csv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    t0 = time.perf_counter()
    questions = list(synthesize(args.rows, seed=args.seed))
    t_gen = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic.csv"
        t0 = time.perf_counter()
        write_yahoo_csv(questions, path)
        t_write = time.perf_counter() - t0
        size_mb = path.stat().st_size / 1e6
        t0 = time.perf_counter()
        back = load_questions(path)
        t_read = time.perf_counter() - t0

    assert [q.id for q in back] == [q.id for q in questions], "round trip changed the ids"
    total = t_gen + t_write
    print(f"rows: {args.rows}  seed: {args.seed}  csv: {size_mb:.1f} MB")
    for step, seconds in (("generate", t_gen), ("write csv", t_write), ("read csv", t_read)):
        print(f"{step:<12} {seconds:7.2f} s  {args.rows / seconds:>10,.0f} rows/s")
    print(
        f"{'synth total':<12} {total:7.2f} s  {args.rows / total:>10,.0f} rows/s  (generate + write)"
    )


if __name__ == "__main__":
    main()
