"""Every infrastructure fault in one run, or one scenario per run: what each costs.

    .state/venv/bin/python bench/fault_recovery.py [--mode all|each] [--rate 4] [--duration 150]

Needs the stack up. `--mode all` runs one experiment whose fault schedule holds every scenario of
tests/integration/pipeline/test_faults.py, spaced apart; `--mode each` runs one experiment per
scenario. For each run it prints the audit (questions sent, lost, duplicated) and, per fault, the
recovery time, the questions delayed and the extra LLM calls from the run's metrics.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Any

from experiments import runner
from experiments import spec as spec_module

SCENARIOS: list[tuple[str, dict[str, Any]]] = [
    ("broker restart", {"action": "restart", "target": "kafka"}),
    ("PostgreSQL restart", {"action": "restart", "target": "postgres"}),
    ("storage SIGKILL", {"action": "kill", "target": "storage"}),
    ("relay SIGKILL", {"action": "kill", "target": "relay"}),
    ("worker SIGKILL", {"action": "kill", "target": "worker"}),
    ("TaskManager SIGKILL", {"action": "kill", "target": "flink-taskmanager"}),
    ("JobManager restart", {"action": "restart", "target": "flink-jobmanager"}),
    ("worker paused 20 s", {"action": "pause", "target": "worker", "duration_s": 20}),
    ("LLM outage 60 s", {"action": "outage", "target": "llm", "duration_s": 60, "status": 503}),
]


def base_spec(name: str, rate: float, duration_s: float) -> dict[str, Any]:
    spec = spec_module.load(spec_module.SPECS_DIR / "demo.yaml")
    return spec_module.apply_overrides(spec, [
        f"name={name}", "arrival.kind=constant", f"arrival.rate={rate}",
        f"arrival.duration_s={duration_s}", f"dataset.size={int(rate * duration_s) + 1}",
        "dataset.repeat_share=0", "llm.profile=healthy", "warmup_s=0", "drain_timeout_s=900",
        "scoring.scorer=lexical", "retry.max_attempts=12", "retry.base_s=0.2", "retry.cap_s=10",
    ])


def run(name: str, faults: list[dict[str, Any]], rate: float, duration_s: float) -> None:
    spec = base_spec(name, rate, duration_s)
    spec["faults"] = faults
    spec = spec_module.validate(spec)
    label = f"{name}-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    try:
        runner.run_experiment(spec, label=label)
    except runner.RunFailed as exc:
        print(f"{label}: FAILED: {exc}")
    wall = time.monotonic() - started
    report = runner.report_dir_for(label)
    audit = json.loads((report / "audit.json").read_text()) if (report / "audit.json").exists() else {}
    totals = audit.get("totals", {})
    print(f"\n{label}: wall {wall:.0f} s; audit {audit.get('verdict', '?')}: sent "
          f"{totals.get('acknowledged', '?')}, lost {totals.get('lost', '?')}, duplicated "
          f"{totals.get('duplicated', '?')}, in flight {totals.get('in_flight', '?')}")
    metrics = json.loads((report / "metrics.json").read_text())
    for fault in metrics.get("faults") or []:
        print("  " + fault_line(fault))
    print(f"  report: {report}/index.html")


def _cell(value: object, fmt: str) -> str:
    """A figure, or '-' when the run could not measure it (e.g. no fault-free baseline)."""
    return "-" if value is None else format(value, fmt)


def fault_line(fault: dict[str, Any]) -> str:
    """One fault's row: what, when it really started (its at_s, or later when an earlier fault on
    the same target was still in progress), and what it cost. Recovery counts from the fault's
    start (kill, restart) or end (pause, outage)."""
    recovery = fault.get("recovery_s")
    recovered = "never" if recovery is None else f"{recovery:.1f} s"
    return (f"{fault.get('action') or '?':<8} {fault.get('target') or '?':<18} at "
            f"{_cell(fault.get('start_s'), '>5.0f')} s  recovery {recovered:>8}  delayed "
            f"{_cell(fault.get('delayed'), '>5')}  extra LLM calls {_cell(fault.get('extra_llm_calls'), '')}"
            + (f"  ({fault['recovery_note']})" if fault.get("recovery_note") else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["all", "each"], default="all")
    parser.add_argument("--rate", type=float, default=4.0)
    parser.add_argument("--duration", type=float, default=None,
                        help="load seconds (default: first-at + spacing per fault in `all`, first-at + 60 in `each`)")
    parser.add_argument("--spacing", type=float, default=90.0,
                        help="`all`: seconds between two faults (each needs time to recover)")
    parser.add_argument("--first-at", type=float, default=60.0,
                        help="seconds of fault-free load first: the baseline that delays and extra "
                             "LLM calls are measured against")
    args = parser.parse_args(argv)
    if args.mode == "all":
        faults = [{"at_s": args.first_at + i * args.spacing, **fault}
                  for i, (_, fault) in enumerate(SCENARIOS)]
        # the load outlasts the last fault's duration by 30 s, so its recovery can be measured
        last_ends = (len(SCENARIOS) - 1) * args.spacing + SCENARIOS[-1][1].get("duration_s", 0) + 30
        duration = args.duration or args.first_at + max(len(SCENARIOS) * args.spacing, last_ends)
        run("faults-all", faults, args.rate, duration)
    else:
        for title, fault in SCENARIOS:
            print(f"\n== {title}")
            slug = title.lower().replace(" ", "-")
            run(f"fault-{slug}", [{"at_s": args.first_at, **fault}], args.rate,
                args.duration or args.first_at + 60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
