"""The AWS "Exponential Backoff And Jitter" experiment in virtual time: calls and completion time
per backoff strategy when many clients contend for one resource (optimistic concurrency).

    .state/venv/bin/python bench/backoff_contention.py [--clients 100] [--seeds 5]

Deterministic (seeded, nothing sleeps); the model is bench/contention_model.py.
"""

from __future__ import annotations

import argparse
import time

from contention_model import ContentionConfig, compare  # bench/, this script's folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[25, 50, 100])
    parser.add_argument("--seeds", type=int, default=5, help="runs averaged per strategy")
    parser.add_argument("--base-ms", type=float, default=5.0)
    parser.add_argument("--cap-ms", type=float, default=1000.0)
    parser.add_argument("--write-ms", type=float, default=1.0, help="read-to-commit window of one attempt")
    args = parser.parse_args()

    for clients in args.clients:
        config = ContentionConfig(
            clients=clients, base_s=args.base_ms / 1000, cap_s=args.cap_ms / 1000, write_s=args.write_ms / 1000
        )
        t0 = time.perf_counter()
        rows = compare(config, seeds=range(args.seeds))
        wall = time.perf_counter() - t0
        best_calls = min(r.mean_calls for r in rows)
        best_time = min(r.mean_completion_s for r in rows)
        print(
            f"\n{clients} clients, base {args.base_ms:g} ms, cap {args.cap_ms:g} ms, write {args.write_ms:g} ms, "
            f"mean of {args.seeds} seeds (simulated in {wall:.2f}s wall)"
        )
        print(f"{'strategy':26s} {'calls':>10s} {'x best':>7s} {'completion':>12s} {'x best':>8s}  all done")
        for r in rows:
            print(
                f"{r.strategy:26s} {r.mean_calls:10.1f} {r.mean_calls / best_calls:7.2f} "
                f"{r.mean_completion_s * 1000:10.1f}ms {r.mean_completion_s / best_time:8.2f}  {r.all_completed}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
