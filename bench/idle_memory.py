"""The stack's memory at idle: every process with its service, RSS and PSS, the totals, against
the 3.5 GB target.

    .state/venv/bin/python bench/idle_memory.py [--after-load N] [--rate 100] [--top 0]

Needs the stack up (`harness up`). The processes are those of the supervisor's programs and
everything below them (PostgreSQL backends, PyFlink workers, Airflow task processes) plus any
process carrying the stack's HARNESS_STACK_ID mark (bench/stack_sample.py); RSS and PSS come from
/proc/<pid>/smaps_rollup. PSS shares each shared page among the processes mapping it, so the PSS
total is the stack's real footprint; the RSS total counts shared pages once per process.

--after-load N first runs an N-question experiment (the `instant` profile, lexical scorer, N/rate
seconds of constant arrivals; no other run may be in the pipeline): the memory "after load".
Prints the per-process table (--top K: only the K largest by PSS), a per-service table, the totals
and their ratio to the target. GB are 10^9 bytes. Exits 0 (a benchmark reports, it does not assert).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import figures
import procstat
import stack_runs
import stack_sample

TARGET_GB = 3.5


@dataclass
class Row:
    service: str
    pid: int
    rss_kb: int
    pss_kb: int
    command: str


def rows() -> list[Row]:
    """Every live stack process with a readable smaps_rollup, largest PSS first."""
    found = stack_sample.find()
    out = []
    for pid, service in found.owners.items():
        if (stat := found.stats.get(pid)) is not None and stat.state == "Z":
            continue  # a zombie holds no memory
        memory = procstat.read_rollup(pid)
        if memory is not None:
            out.append(Row(service, pid, memory[0], memory[1], procstat.read_cmdline(pid)))
    return sorted(out, key=lambda r: -r.pss_kb)


def mb(kb: int) -> float:
    return kb * 1024 / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--after-load", type=int, default=0, metavar="N",
                        help="run an N-question instant load first")
    parser.add_argument("--rate", type=float, default=100.0, help="questions/s of that load")
    parser.add_argument("--top", type=int, default=0, help="show only the K largest processes")
    args = parser.parse_args(argv)

    if args.after_load > 0:
        spec = stack_runs.bench_spec("idle-memory-load", profile="instant", rate=args.rate,
                                     duration_s=args.after_load / args.rate, warmup_s=0)
        stack_runs.ensure(spec)
        run = stack_runs.run(spec)
        print(f"load: {run.label}: {run.status}, {run.question_count:,} questions, report "
              f"{run.report_dir}\n")

    found = rows()
    shown = found[: args.top] if args.top > 0 else found
    print(figures.table(["service", "pid", "RSS MB", "PSS MB", "command"],
                        [[r.service, str(r.pid), mb(r.rss_kb), mb(r.pss_kb), r.command[:60]]
                         for r in shown]))
    by_service: dict[str, list[Row]] = {}
    for r in found:
        by_service.setdefault(r.service, []).append(r)
    print()
    print(figures.table(["service", "processes", "RSS MB", "PSS MB"], [
        [name, len(rs), mb(sum(r.rss_kb for r in rs)), mb(sum(r.pss_kb for r in rs))]
        for name, rs in sorted(by_service.items(), key=lambda kv: -sum(r.pss_kb for r in kv[1]))
    ]))
    rss_gb = sum(r.rss_kb for r in found) * 1024 / figures.GB
    pss_gb = sum(r.pss_kb for r in found) * 1024 / figures.GB
    print()
    print(figures.table(["total", "GB", f"/ target {TARGET_GB:g} GB"], [
        [f"RSS ({len(found)} processes)", figures.fmt(rss_gb, 2),
         figures.fmt(figures.ratio(rss_gb, TARGET_GB), 2)],
        ["PSS", figures.fmt(pss_gb, 2), figures.fmt(figures.ratio(pss_gb, TARGET_GB), 2)],
    ]))
    # The goal is stated in RSS (what `ps` and `top` show); PSS is the footprint once shared
    # pages are divided among the processes mapping them.
    for name, total in (("RSS", rss_gb), ("PSS", pss_gb)):
        print(f"{name} {'within' if total <= TARGET_GB else 'ABOVE'} the {TARGET_GB:g} GB target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
