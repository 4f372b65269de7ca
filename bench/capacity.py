"""End-to-end capacity against the slowest stage alone, and where the CPU goes.

    .state/venv/bin/python bench/capacity.py [--rate 300] [--duration 40] [--workers 2]
        [--idle 10] [--skip-stages] [--save on.json] [--against on.json]

Needs the stack up (`harness up`), no other run in the pipeline, and a free Flink task slot for
the scoring job's stage (else that stage is skipped, saying so). In one invocation:

1. the stack's idle CPU per service over --idle seconds (nothing sent);
2. one experiment at --rate questions/s (constant arrivals) for --duration s with the `instant`
   simulator profile, the lexical scorer and --workers workers, no retries, no regeneration,
   through the experiment runner's steps; the stack's CPU sampled before the load and after the
   drain (/proc/<pid>/stat utime + stime of every process of every service, found through the
   supervisor and the stack's HARNESS_STACK_ID mark), the load process's from wait4;
3. each stage alone, with the stage benchmarks' own functions: one worker (bench_worker.py, the
   simulator at 1 s latency, 500 in flight), the storage service (bench_storage.py) and the
   scoring job, lexical, parallelism 1 (bench_flink_job.py).

Prints the stage rates, end-to-end answers/s in the steady window and its ratio to the slowest
stage, the bottleneck, whether the generator fell behind (producer send lateness p99 against the
inter-arrival time), and CPU ms per question per service (gross, and net of its idle CPU).

Telemetry: the switch is HARNESS_EVENTS_ENABLED, read at start by the generator, the workers,
the relay and the storage service (the Flink job's `scored` and window events have no switch);
the stack's services take it from the environment of `harness up`. One invocation measures the
mode the stack runs in (printed; the load process follows it). For both side by side: run with
--save on.json, then `harness down && HARNESS_EVENTS_ENABLED=false harness up`, run again with
--against on.json. With telemetry off the report's producer send comes from the envelope's hop,
stamped before the produce: the generator's pacing lag without the Kafka acknowledgement.
Exits 0 (a benchmark reports, it does not assert).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import figures
import stack_runs
import stack_sample


def stage_worker(duration_s: float) -> float:
    import bench_worker

    from pipeline.kafka.settings import KafkaSettings

    args = argparse.Namespace(backend="sim", duration=duration_s, warmup=5.0,
                              concurrency=bench_worker.IN_FLIGHT)
    return bench_worker.measure(args, KafkaSettings(), "direct").rate


def stage_storage(rows: int) -> float:
    import bench_storage

    from pipeline.kafka.settings import KafkaSettings
    from pipeline.storage.db import Database

    experiment = f"bench-capacity-storage-{uuid.uuid4().hex[:6]}"
    with Database(application_name="bench-capacity") as db:
        try:
            return bench_storage.bench_service(db, KafkaSettings(),
                                               bench_storage.answers(rows, experiment), 500)
        finally:
            bench_storage.cleanup(db, experiment)


def free_task_slots() -> int:
    from flink.client import FlinkClient

    client = FlinkClient()
    try:
        return sum(int(tm.get("freeSlots", 0))
                   for tm in client._json("GET", "/taskmanagers")["taskmanagers"])
    finally:
        client.close()


def stage_flink(n: int) -> float | None:
    import bench_flink_job

    if free_task_slots() < 1:
        return None
    return float(bench_flink_job.run_job("lexical", 1, n, 64, {}, 900.0,
                                         score_timeout_s=0.0)["answers_per_s"])


def measure_stages(args: argparse.Namespace) -> dict[str, float | None]:
    stages: dict[str, float | None] = {}
    print("== stage alone: one worker", flush=True)
    stages["worker (one process)"] = stage_worker(args.worker_duration)
    print("== stage alone: storage service", flush=True)
    stages["storage service"] = stage_storage(args.storage_rows)
    print("== stage alone: Flink job, lexical, p=1", flush=True)
    stages["Flink job (lexical, p=1)"] = stage_flink(args.flink_answers)
    if stages["Flink job (lexical, p=1)"] is None:
        print("   skipped: no free task slot (the scoring job holds them)", flush=True)
    return stages


def cpu_rows(run: stack_runs.Measured, idle: dict[str, float]) -> tuple[list[list[Any]],
                                                                        dict[str, float]]:
    """The CPU table's rows, most CPU first, and the gross ms per question by service."""
    total = sum(run.cpu_s.values())
    rows: list[list[Any]] = []
    per_question: dict[str, float] = {}
    for name, cpu in sorted(run.cpu_s.items(), key=lambda kv: -kv[1]):
        gross, net = figures.cpu_ms_per_question(cpu, run.question_count, idle.get(name, 0.0),
                                                 run.wall_s)
        per_question[name] = gross
        rows.append([name, cpu, figures.fmt(gross, 2), figures.fmt(net, 2),
                     1000 * idle[name] if name in idle else None,
                     figures.fmt(100 * figures.ratio(cpu, total), 0)])
    gross, net = figures.cpu_ms_per_question(total, run.question_count, sum(idle.values()),
                                             run.wall_s)
    rows.append(["total", total, figures.fmt(gross, 2), figures.fmt(net, 2),
                 1000 * sum(idle.values()), "100"])
    return rows, per_question


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=300.0, help="offered questions/s")
    parser.add_argument("--duration", type=float, default=40.0, help="load seconds")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds at the start of the measured run left out of its figures")
    parser.add_argument("--warm-up", type=float, default=30.0,
                        help="seconds of unmeasured load first, so the JVMs run compiled code "
                             "(0: none)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64, help="in flight per worker")
    parser.add_argument("--idle", type=float, default=10.0,
                        help="seconds of idle CPU measured before the load")
    parser.add_argument("--skip-stages", action="store_true", help="only the end-to-end run")
    parser.add_argument("--worker-duration", type=float, default=20.0)
    parser.add_argument("--storage-rows", type=int, default=10_000)
    parser.add_argument("--flink-answers", type=int, default=20_000)
    parser.add_argument("--save", type=Path, help="write this run's figures (JSON) here")
    parser.add_argument("--against", type=Path,
                        help="a --save file of an earlier run (the other telemetry mode): "
                             "print both side by side")
    args = parser.parse_args(argv)

    found = stack_sample.find()
    switch = stack_sample.telemetry_mode(found)
    telemetry = "on" if stack_sample.telemetry_on(switch) else "off"
    if switch:  # the load process (started from here) follows the services' mode
        os.environ[stack_sample.TELEMETRY_VAR] = switch
    spec = stack_runs.bench_spec("capacity-instant", profile="instant", rate=args.rate,
                                 duration_s=args.duration, warmup_s=args.warmup,
                                 workers=args.workers, concurrency=args.concurrency)
    stack_runs.warm_up(args.warm_up, workers=args.workers, concurrency=args.concurrency)
    stack_runs.ensure(spec)
    print(f"== idle CPU over {args.idle:g} s", flush=True)
    idle = stack_runs.idle_cpu_per_s(args.idle)
    print(f"== end to end: instant profile, {args.rate:g}/s offered, {args.workers} workers",
          flush=True)
    run = stack_runs.run(spec, sample_cpu=True)
    print(f"   {run.label}: {run.status}, report {run.report_dir}", flush=True)
    stages = {} if args.skip_stages else measure_stages(args)

    e2e = float(run.metrics["throughput"]["llm_throughput_qps"])
    lateness = run.latency("producer_send").get("p99")
    behind = figures.fell_behind(lateness, args.rate)
    rows, per_question = cpu_rows(run, idle)
    total_cpu = sum(run.cpu_s.values())
    cores = os.cpu_count() or 1
    busy = figures.ratio(total_cpu, run.wall_s)
    slow = figures.slowest(stages)

    print(f"\nCapacity (telemetry {telemetry}: {stack_sample.TELEMETRY_VAR}="
          f"{switch if switch else '(unset)'}; the Flink job's events have no switch)")
    stage_rows: list[list[Any]] = [[name, rate] for name, rate in stages.items()]
    stage_rows.append([f"end to end ({args.workers} workers, {args.rate:g}/s offered)", e2e])
    print(figures.table(["stage", "answers/s"], stage_rows))
    if slow is not None:
        print(f"ratio end to end / slowest stage alone ({slow[0]}): "
              f"{figures.fmt(figures.ratio(e2e, slow[1]), 2)}")
    print(f"bottleneck: {figures.bottleneck(e2e, stages, busy, cores, per_question)}")
    print(f"generator {'FELL BEHIND' if behind else 'kept up'}: producer send lateness p99 "
          f"{figures.fmt(1000 * lateness if lateness is not None else None, 1)} ms against "
          f"{1000 / args.rate:.1f} ms between arrivals")
    print(f"\nCPU during the run ({run.wall_s:.0f} s from the load's start to the drain's end, "
          f"{run.question_count:,} questions; {figures.fmt(busy, 2)} of {cores} cores busy)")
    print(figures.table(["service", "CPU s", "ms/question", "net of idle", "idle ms/s",
                         "share %"], rows))

    result = {"telemetry": telemetry, "label": run.label, "e2e_answers_per_s": e2e,
              "stages": stages, "cpu_ms_per_question": per_question}
    if args.save:
        args.save.write_text(json.dumps(result, indent=2))
        print(f"\nsaved: {args.save}")
    if args.against:
        earlier = json.loads(args.against.read_text())
        before = {"end to end answers/s": earlier["e2e_answers_per_s"],
                  **{f"CPU ms/q {k}": v for k, v in earlier["cpu_ms_per_question"].items()}}
        after = {"end to end answers/s": e2e,
                 **{f"CPU ms/q {k}": v for k, v in per_question.items()}}
        print(f"\nTelemetry {earlier['telemetry']} ({earlier['label']}) against {telemetry} "
              f"({run.label})")
        print(figures.table(["figure", f"telemetry {earlier['telemetry']}",
                             f"telemetry {telemetry}", "ratio"],
                            [[n, a, b, figures.fmt(r, 2)]
                             for n, a, b, r in figures.compare(before, after)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
