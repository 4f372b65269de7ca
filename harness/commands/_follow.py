"""What `harness trigger`, `harness demo` and `harness run` share: the spec and its overrides on
the command line, and while they follow a run, the live progress read from PostgreSQL, the DAG's task changes as notes, and the end-of-run summary
whose pass/fail is the exit code. A helper of the commands package: it registers no command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from experiments.progress import ProgressSnapshot
from experiments.run_summary import format_summary, summarize
from harness.live_progress import DEFAULT_INTERVAL_S, LiveProgress

#: Airflow DAG run states -> the run's status, when the runs table could not be read
_DAG_STATES = {"success": "finished", "failed": "failed"}
_DONE = {"success", "skipped", "failed", "upstream_failed"}


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    """The positional spec file and the repeatable ``--set KEY=VALUE`` override."""
    parser.add_argument("spec", help="a spec file, e.g. experiments/specs/demo.yaml")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a spec field, e.g. --set retry.base_s=0.5 (repeatable)")


def load_spec(args: argparse.Namespace) -> dict[str, Any] | None:
    """The validated spec of ``args.spec`` with ``args.set`` applied; None after printing the
    problem (the field's title and path) on stderr."""
    from experiments import spec as spec_module

    try:
        return spec_module.apply_overrides(spec_module.load(args.spec), args.set or [])
    except spec_module.SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def add_refresh_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--refresh", type=float, default=DEFAULT_INTERVAL_S, metavar="S",
                        help="seconds between two progress updates read from PostgreSQL "
                             f"(default {DEFAULT_INTERVAL_S:g})")


@contextmanager
def live_progress(label: str, interval_s: float) -> Iterator[LiveProgress]:
    """Run LABEL's progress on stdout while the block runs (its own database connection)."""
    from experiments.progress import read_progress
    from pipeline.storage.db import Database

    db = Database(application_name="harness-progress")

    def read() -> ProgressSnapshot | None:
        try:
            return read_progress(db, label)
        except Exception:
            db.discard()  # the next refresh reconnects
            raise

    try:
        with LiveProgress(read, interval_s=interval_s) as live:
            yield live
    finally:
        db.close()


class TaskChanges:
    """The DAG's task instances -> one note per task state change, with the count done."""

    def __init__(self, note: Callable[[str], None]) -> None:
        self.note = note
        self.seen: dict[str, str] = {}

    def __call__(self, tis: list[Mapping[str, Any]]) -> None:
        done = sum(1 for ti in tis if ti.get("state") in _DONE)
        for ti in tis:
            task_id, state = str(ti["task_id"]), ti.get("state")
            if state and self.seen.get(task_id) != state:
                self.seen[task_id] = str(state)
                self.note(f"task {task_id}: {state} ({done}/{len(tis)} tasks done)")


def end_of_run(label: str, last: ProgressSnapshot | None, fallback_status: str,
               fallback_reason: str | None, report_dir: str | Path | None,
               comparison: str | None = None) -> int:
    """Print the summary of run LABEL and return its exit code. The status and reason are the
    runs table's (LAST, the final snapshot) once the run has ended, else the FALLBACKs."""
    status, reason = fallback_status, fallback_reason
    if last is not None and last.status != "running":
        status, reason = last.status, last.reason
    summary = summarize(label, _DAG_STATES.get(status, status), reason, report_dir,
                        progress=last, comparison=comparison)
    print()
    print(format_summary(summary))
    return summary.exit_code
