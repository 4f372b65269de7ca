"""The stack's mark on its processes, and the finder of every process that carries it.

supervisord starts with ``HARNESS_STACK_ID=<id of the state folder>`` in its environment, and every
process below it inherits the variable: services, their children, and the children that outlive
their parent and are re-parented to init. ``/proc/<pid>/environ`` keeps the variable after
re-parenting, so `harness down` can find them all without walking a process tree.

Two things can hide the mark, and the finder allows for both:

* ``setproctitle`` (Airflow's processes, ``airflow serve-logs`` among them) overwrites the memory
  that ``/proc/<pid>/environ`` shows, unless ``SPT_NOENV`` is set: the stack sets it beside the mark.
* PostgreSQL's backends rewrite their title the same way and cannot be told not to. A process whose
  environ shows no variable at all (overwritten or unreadable) is counted as ours when it belongs to
  one of the stack's sessions (supervisord is a session leader; its children stay in its session).
  PostgreSQL's backends start sessions of their own and end when the postmaster ends.

A process whose environ is intact but lacks the mark is never ours.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from foundation.layout import Layout

MARK_VAR = "HARNESS_STACK_ID"
PROC = Path("/proc")


def stack_id(layout: Layout) -> str:
    """The id of the stack living in LAYOUT's state folder (stable across runs)."""
    return hashlib.sha256(str(layout.home).encode()).hexdigest()[:16]


def mark_env(layout: Layout) -> dict[str, str]:
    """The environment supervisord passes to everything it starts."""
    return {MARK_VAR: stack_id(layout), "SPT_NOENV": "1"}


def _environ(proc: Path, pid: int) -> dict[str, str] | None:
    """PID's initial environment, or None when unreadable (gone, or not ours to read)."""
    try:
        raw = (proc / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    return parse_environ(raw)


def parse_environ(raw: bytes) -> dict[str, str]:
    """/proc/<pid>/environ: NUL-separated KEY=VALUE items (blank and valueless ones skipped)."""
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


def _stat(proc: Path, pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state is [0], ppid [1], session [3])."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces or ')': split after the last ')'.
    return text.rsplit(")", 1)[1].split()


def _ancestors(proc: Path, pid: int) -> set[int]:
    """PID and every process above it (a `harness down` run by a marked process spares its callers)."""
    found: set[int] = set()
    while pid > 0 and pid not in found:
        found.add(pid)
        fields = _stat(proc, pid)
        if fields is None:
            break
        pid = int(fields[1])
    return found


def session(pid: int, proc: Path = PROC) -> int | None:
    """The session id of PID (it survives re-parenting), or None when PID is gone."""
    fields = _stat(proc, pid)
    return int(fields[3]) if fields else None


def marked(mark: str, *, sessions: Iterable[int] = (), proc: Path = PROC,
           me: int | None = None) -> set[int]:
    """Live processes carrying MARK, or with a blank environ inside one of SESSIONS.

    Zombies are left out (they hold no resources and only their parent can reap them), and so
    are the caller ME (default: this process) and its ancestors.
    """
    session_ids = set(sessions)
    spared = _ancestors(proc, os.getpid() if me is None else me)
    found: set[int] = set()
    for entry in os.listdir(proc):
        if not entry.isdigit() or int(entry) in spared:
            continue
        pid = int(entry)
        fields = _stat(proc, pid)
        if fields is None or fields[0] == "Z":
            continue
        env = _environ(proc, pid)
        if env:
            if env.get(MARK_VAR) == mark:
                found.add(pid)
        elif int(fields[3]) in session_ids:
            found.add(pid)
    return found
