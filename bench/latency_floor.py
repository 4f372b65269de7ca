"""The pipeline's own latency: each hop's p50 and p99 with a zero-latency LLM, beside raw Kafka
round trips on the same broker, and the overhead ratio with a realistic LLM.

    .state/venv/bin/python bench/latency_floor.py [--rates 4 50 200] [--duration 30]
        [--healthy-rate 50] [--pings 200]

Needs the stack up (`harness up`) and no other run in the pipeline (a run waits for the pipeline
to be free, then is refused). In one invocation, side by side:

1. one experiment per rate of --rates with the simulator's `instant` profile (no LLM latency), the
   lexical scorer, constant arrivals, no retries and no regeneration: the waterfall's parts
   (producer send, worker queue wait, LLM, scoring, storage, other) and the end-to-end latency,
   p50 and p99 in ms, so the pipeline's own cost is the whole figure;
2. raw Kafka pings (bench/kafka_ping.py) on the same broker with the pipeline's clients: produce
   -> acknowledged and produce -> consumed, the floor under each of the path's Kafka hops;
3. one experiment at --healthy-rate with the `healthy` profile (LLM p50 about 0.2 s): the
   overhead = (end to end - LLM time) / LLM time, per question (p50 and p99), against the goals
   p50 <= 0.25 and p99 <= 1.0; and the same ratio from the two distributions' percentiles.

Each experiment is a normal run (register, load process, drain, report) whose report stays in
reports/<label>/. Prints plain tables; exits 0 (a benchmark reports, it does not assert).
"""

from __future__ import annotations

import argparse
import os
import sys

import figures
import kafka_ping
import stack_runs

#: the hops of one question without retries: qa.questions, qa.answers, qa.results
KAFKA_HOPS = 3
GOAL_P50, GOAL_P99 = 0.25, 1.0


def ms(summary: dict, key: str) -> float | None:
    value = summary.get(key)
    return None if value is None else 1000.0 * float(value)


def floor_table(runs: dict[float, stack_runs.Measured], pings: kafka_ping.Pings) -> str:
    rates = sorted(runs)
    parts = next(iter(runs.values())).metrics["latency"]["waterfall"]["parts"]
    headers = ["hop (ms)"] + [f"{r:g}/s {q}" for r in rates for q in ("p50", "p99")]
    rows: list[list[object]] = []
    for part in parts:
        rows.append([part] + [ms(runs[r].hop(part), q) for r in rates for q in ("p50", "p99")])
    rows.append(["end to end"] + [ms(runs[r].latency("e2e"), q) for r in rates
                                  for q in ("p50", "p99")])
    rows.append(["questions (steady)"] + [x for r in rates
                                          for x in (runs[r].latency("e2e").get("count"), "")])
    acked = [1000 * figures.percentile(pings.acked_s, q) for q in (0.5, 0.99)]
    consumed = [1000 * figures.percentile(pings.consumed_s, q) for q in (0.5, 0.99)]
    rows.append(["raw Kafka produce->ack"] + acked * len(rates))
    rows.append(["raw Kafka produce->consume"] + consumed * len(rates))
    rows.append([f"  x {KAFKA_HOPS} hops of the path"] + [c * KAFKA_HOPS for c in consumed] * len(rates))
    return figures.table(headers, rows)


def overhead_table(run: stack_runs.Measured) -> str:
    e2e, llm = run.latency("e2e"), run.latency("llm_per_question")
    per_question = figures.overhead_percentiles(run.answered_pairs())
    of_percentiles = {q: figures.overhead(e2e.get(k), llm.get(k))
                      for q, k in ((0.5, "p50"), (0.99, "p99"))}
    rows: list[list[object]] = [
        ["end to end (ms)", ms(e2e, "p50"), ms(e2e, "p99"), ""],
        ["LLM time per question (ms)", ms(llm, "p50"), ms(llm, "p99"), ""],
        ["pipeline's share (ms)", _diff(ms(e2e, "p50"), ms(llm, "p50")),
         _diff(ms(e2e, "p99"), ms(llm, "p99")), ""],
        ["overhead per question", figures.fmt(per_question[0.5], 3),
         figures.fmt(per_question[0.99], 3), f"goal: p50 <= {GOAL_P50:g}, p99 <= {GOAL_P99:.1f}"],
        ["overhead of the percentiles", figures.fmt(of_percentiles[0.5], 3),
         figures.fmt(of_percentiles[0.99], 3), ""],
    ]
    met = per_question[0.5] <= GOAL_P50 and per_question[0.99] <= GOAL_P99
    return (f"{figures.table(['healthy profile', 'p50', 'p99', ''], rows)}\n"
            f"goal {'met' if met else 'NOT met'} (overhead per question)")


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=float, nargs="+", default=[4.0, 50.0, 200.0],
                        help="questions/s of the instant-profile runs")
    parser.add_argument("--duration", type=float, default=30.0, help="load seconds per run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds trimmed per run")
    parser.add_argument("--healthy-rate", type=float, default=50.0,
                        help="questions/s of the healthy-profile run (0: skip it)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=64, help="in flight per worker")
    parser.add_argument("--pings", type=int, default=200, help="raw Kafka round trips")
    parser.add_argument("--warm-up", type=float, default=30.0,
                        help="seconds of unmeasured load first, so the JVMs run compiled code "
                             "(0: none)")
    args = parser.parse_args(argv)

    def spec(name: str, profile: str, rate: float) -> dict:
        return stack_runs.bench_spec(name, profile=profile, rate=rate, duration_s=args.duration,
                                     warmup_s=args.warmup, workers=args.workers,
                                     concurrency=args.concurrency)

    first = spec("floor-instant", "instant", args.rates[0])
    stack_runs.warm_up(args.warm_up, workers=args.workers, concurrency=args.concurrency)
    stack_runs.ensure(first)
    runs: dict[float, stack_runs.Measured] = {}
    for rate in args.rates:
        print(f"== instant profile at {rate:g}/s", flush=True)
        runs[rate] = stack_runs.run(spec(f"floor-instant-{rate:g}", "instant", rate))
        print(f"   {runs[rate].label}: {runs[rate].status}, report {runs[rate].report_dir}",
              flush=True)
    print(f"== raw Kafka: {args.pings} pings", flush=True)
    pings = kafka_ping.ping(args.pings)
    healthy = None
    if args.healthy_rate > 0:
        print(f"== healthy profile at {args.healthy_rate:g}/s", flush=True)
        healthy = stack_runs.run(spec(f"floor-healthy-{args.healthy_rate:g}", "healthy",
                                      args.healthy_rate))
        print(f"   {healthy.label}: {healthy.status}, report {healthy.report_dir}", flush=True)

    print("\nThe pipeline's own latency (instant profile: no LLM latency, lexical scorer, "
          "no retries)")
    print(floor_table(runs, pings))
    if healthy is not None:
        print(f"\nOverhead at {args.healthy_rate:g}/s, healthy profile: "
              "(end to end - LLM time) / LLM time")
        print(overhead_table(healthy))
    print(f"\nmachine load {os.getloadavg()[0]:.1f} (1-min load average on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
