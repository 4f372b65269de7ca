"""Process-tree helpers over /proc (Linux): what a supervisor started, and whether it is gone."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from pipeline.waiting import WaitTimeout, wait_until


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(root: int) -> set[int]:
    """Every live process below ROOT (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _ppid(int(entry))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry))
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def terminate(pids: set[int], timeout_s: float = 15.0) -> set[int]:
    """SIGTERM, then SIGKILL what is left at the deadline; returns what survived even that."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in alive(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        with contextlib.suppress(WaitTimeout):
            wait_until(lambda: not alive(pids), timeout_s, pause_s=0.05, max_pause_s=0.2,
                       what="processes still alive")
            return set()
    return alive(pids)


def matching(*needles: str) -> set[int]:
    """Live processes whose command line contains every NEEDLE (never this process)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            line = cmdline(int(entry))
            if line and all(needle in line for needle in needles):
                found.add(int(entry))
    return alive(found)
