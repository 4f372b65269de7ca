"""The local stack's processes, each named by its service: the programs supervisord runs (and
every process below them: PostgreSQL's backends, the TaskManager's PyFlink workers, Airflow's
task processes), plus any process carrying the stack's mark outside them (``harness.stack.marks``:
orphans re-parented to init, supervisord itself). Needs the stack up (`harness up`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import procstat

from harness.stack import marks
from harness.stack.manager import Stack

OUTSIDE = "other (marked)"
#: the pipeline services that read the telemetry switch at start (the Flink job has none)
TELEMETRY_READERS = ("worker-0", "storage", "retry-relay")
TELEMETRY_VAR = "HARNESS_EVENTS_ENABLED"


@dataclass
class StackProcesses:
    owners: dict[int, str]  # pid -> service (supervisor program name)
    stats: dict[int, procstat.Stat]
    program_pids: dict[str, int]  # service -> its supervised process

    def ticks(self) -> dict[str, int]:
        """CPU ticks per service (reaped children included): see :mod:`procstat`."""
        return procstat.ticks_by_service(self.owners, self.stats)


def find(stack: Stack | None = None, proc: Path = procstat.PROC) -> StackProcesses:
    """Every process of the running stack, named by its service (STACK and PROC are seams for
    the unit tests)."""
    stack = stack or Stack()
    supervisord = stack.supervisor.pid()
    if supervisord is None:
        raise RuntimeError("the local stack is not running: start it with `harness up`")
    programs = {str(i["name"]): int(i["pid"]) for i in stack.supervisor.infos() if i.get("pid")}
    roots = {pid: name for name, pid in programs.items()}
    roots[supervisord] = "supervisord"
    stat_of = procstat.stats(proc)
    parents = {pid: s.ppid for pid, s in stat_of.items()}
    sessions = {supervisord} if marks.session(supervisord, proc) == supervisord else set()
    pids = marks.marked(marks.stack_id(stack.layout), sessions=sessions, proc=proc)
    pids |= procstat.below(roots, parents)
    owners = procstat.attribute(pids, parents, roots, default=OUTSIDE)
    return StackProcesses(owners, {p: stat_of[p] for p in pids if p in stat_of}, programs)


def telemetry_mode(found: StackProcesses, proc: Path = procstat.PROC) -> str | None:
    """The services' telemetry switch as they were started: the value of HARNESS_EVENTS_ENABLED in
    the first readable environment among TELEMETRY_READERS ('' when unset: on by default), or None
    when none is readable."""
    for name in TELEMETRY_READERS:
        pid = found.program_pids.get(name)
        env = procstat.read_environ(pid, proc) if pid else None
        if env:
            return env.get(TELEMETRY_VAR, "")
    return None


def telemetry_on(value: str | None) -> bool:
    """The switch's value read as pydantic reads a bool (unset: the default, on)."""
    return (value or "true").strip().lower() not in ("0", "false", "f", "no", "n", "off")
