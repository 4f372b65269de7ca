"""N experiments with long drains through Airflow, one after another: how many succeed, and how
long each took. The robustness check of the experiment DAG (deferrable waits, retries, isolation).

    .state/venv/bin/python bench/consecutive_experiments.py [--runs 10] [--profile slow]
        [--restart airflow-scheduler --restart airflow-triggerer]

Needs the stack up (`harness up`). Each run uses the `slow` profile by default: every answer takes
about two minutes, so every drain lasts at least that long after the load ends. `--restart NAME`
restarts that Airflow component during every other run's drain (round robin over the names).
Prints one line per run (state, wall time, load, drain) and the success ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid

from experiments import runner
from experiments import spec as spec_module
from harness.airflow_api import AirflowClient
from harness.stack.manager import Stack


def spec_for(name: str, profile: str, rate: float, duration_s: float, threshold: float) -> dict:
    base = spec_module.load(spec_module.SPECS_DIR / "demo.yaml")
    return spec_module.apply_overrides(base, [
        f"name={name}", "arrival.kind=constant", f"arrival.rate={rate}",
        f"arrival.duration_s={duration_s}", f"dataset.size={int(rate * duration_s) + 1}",
        "dataset.repeat_share=0", f"llm.profile={profile}", "llm.timeout_s=300",
        "warmup_s=0", "drain_timeout_s=900", "scoring.scorer=lexical",
        f"scoring.threshold={threshold}",
    ])


def wait_phase(label: str, phase: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = runner.run_status(label)
        if row is not None and (row.phase == phase or row.ended):
            return
        time.sleep(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--profile", default="slow")
    parser.add_argument("--rate", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--threshold", type=float, default=0.0,
                        help="score threshold; 0 (default): no regeneration, so each drain is "
                             "one LLM latency (with `slow`, about two minutes)")
    parser.add_argument("--restart", action="append", default=[],
                        help="an Airflow service to restart during a drain (repeatable)")
    args = parser.parse_args(argv)
    stack = Stack()
    endpoints = stack.endpoints()
    tag = uuid.uuid4().hex[:4]
    labels = [f"consec{i + 1:02d}-{tag}" for i in range(args.runs)]
    rows = []
    started = time.monotonic()
    with AirflowClient(endpoints.airflow_url, endpoints.airflow_user,
                       endpoints.airflow_password) as client:
        client.wait_for_dag("experiment", timeout_s=180)
        for index, label in enumerate(labels):
            spec = spec_for(label.rsplit("-", 1)[0], args.profile, args.rate, args.duration,
                            args.threshold)
            t0 = time.monotonic()
            client.trigger("experiment", conf=spec_module.flatten(spec), run_id=label)
            restarted = ""
            if args.restart and index % 2 == 1:
                wait_phase(label, "draining", 900)
                service = args.restart[(index // 2) % len(args.restart)]
                stack.supervisor.stop(service)
                stack.supervisor.start(service)
                restarted = service
            run = client.wait_for_run("experiment", label, timeout_s=3600)
            wall = time.monotonic() - t0
            row = runner.run_status(label)
            load = drain = float("nan")
            if row is not None and row.load_started_at and row.load_finished_at:
                load = row.load_finished_at - row.load_started_at
                if row.drained_at:
                    drain = row.drained_at - row.load_finished_at
            status = row.status if row is not None else "-"
            rows.append((label, run.state, status, wall, load, drain, restarted))
            print(f"{label:<18} {run.state:<8} {status:<9} wall {wall:6.0f} s  load {load:5.0f} s  "
                  f"drain {drain:5.0f} s  {('restarted ' + restarted) if restarted else ''}",
                  flush=True)
    ok = sum(1 for r in rows if r[1] == "success")
    total = time.monotonic() - started
    print(f"\n{ok}/{len(rows)} runs succeeded (ratio {ok / len(rows):.2f}) in {total / 60:.1f} min; "
          f"median wall {sorted(r[3] for r in rows)[len(rows) // 2]:.0f} s, "
          f"min drain {min(r[5] for r in rows):.0f} s")
    return 0 if ok == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
