"""Reading /proc for the cost benchmarks: CPU ticks, memory, environment, and which service a
process belongs to. Parsers take text (unit-tested); readers take a ``proc`` root (a fake folder in
tests) and return None for a process that is gone.

CPU of a process tree is the sum, over its live processes, of ``utime + stime + cutime +
cstime``: a child that ended and was reaped by its parent moved its CPU (and its own reaped
children's) into the parent's ``cutime``/``cstime``, so each process is counted exactly once,
live or reaped. A process that ended and was reaped outside the tree (by init) is lost; a delta
between two samples is therefore clamped at zero.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.stack.marks import parse_environ  # one parser of /proc/<pid>/environ

PROC = Path("/proc")
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Stat:
    """The fields of /proc/<pid>/stat the benchmarks use (CPU in clock ticks)."""

    state: str
    ppid: int
    own_ticks: int  # utime + stime
    children_ticks: int  # cutime + cstime: reaped children

    @property
    def ticks(self) -> int:
        return self.own_ticks + self.children_ticks


def parse_stat(text: str) -> Stat:
    """/proc/<pid>/stat. The command name is in parentheses and may hold spaces or ')': the
    fields are split after the last ')' (state is field 3 of the man page, utime 14 ... cstime 17)."""
    fields = text.rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return Stat(state=fields[0], ppid=int(fields[1]), own_ticks=utime + stime,
                children_ticks=cutime + cstime)


def parse_rollup(text: str) -> tuple[int, int]:
    """(Rss, Pss) in kB from /proc/<pid>/smaps_rollup."""
    values = {"Rss:": 0, "Pss:": 0}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in values:
            values[parts[0]] = int(parts[1])
    return values["Rss:"], values["Pss:"]




def read_stat(pid: int, proc: Path = PROC) -> Stat | None:
    try:
        return parse_stat((proc / str(pid) / "stat").read_text())
    except (OSError, IndexError, ValueError):
        return None


def read_rollup(pid: int, proc: Path = PROC) -> tuple[int, int] | None:
    try:
        return parse_rollup((proc / str(pid) / "smaps_rollup").read_text())
    except OSError:
        return None


def read_environ(pid: int, proc: Path = PROC) -> dict[str, str] | None:
    try:
        return parse_environ((proc / str(pid) / "environ").read_bytes())
    except OSError:
        return None


def read_cmdline(pid: int, proc: Path = PROC) -> str:
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def stats(proc: Path = PROC) -> dict[int, Stat]:
    """Every process's stat, by pid."""
    out: dict[int, Stat] = {}
    for entry in os.listdir(proc):
        if entry.isdigit() and (stat := read_stat(int(entry), proc)) is not None:
            out[int(entry)] = stat
    return out


def attribute(pids: Iterable[int], parents: Mapping[int, int], roots: Mapping[int, str],
              default: str = "other") -> dict[int, str]:
    """Each of PIDS mapped to the name of its nearest ancestor (itself included) among ROOTS
    (pid -> service name), or DEFAULT when none is above it."""
    out: dict[int, str] = {}
    for pid in pids:
        seen: set[int] = set()
        current: int | None = pid
        name = default
        while current is not None and current > 0 and current not in seen:
            if current in roots:
                name = roots[current]
                break
            seen.add(current)
            current = parents.get(current)
        out[pid] = name
    return out


def below(roots: Iterable[int], parents: Mapping[int, int]) -> set[int]:
    """ROOTS and every process below them in PARENTS (pid -> ppid)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = [r for r in roots if r in parents]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def ticks_by_service(owners: Mapping[int, str], stat_of: Mapping[int, Stat]) -> dict[str, int]:
    """CPU ticks of each service's live processes, reaped children included."""
    out: dict[str, int] = {}
    for pid, service in owners.items():
        stat = stat_of.get(pid)
        if stat is not None:
            out[service] = out.get(service, 0) + stat.ticks
    return out


def cpu_delta_s(before: Mapping[str, int], after: Mapping[str, int],
                clk_tck: int = CLK_TCK) -> dict[str, float]:
    """CPU seconds per service between two samples of :func:`ticks_by_service` (clamped at zero:
    a process that ended and was reaped outside its service takes its ticks with it)."""
    names = set(before) | set(after)
    return {name: max(0, after.get(name, 0) - before.get(name, 0)) / clk_tck for name in names}
