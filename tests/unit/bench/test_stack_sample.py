"""The stack's processes named by service (bench/stack_sample.py), over a fake /proc and a fake
supervisor (the injected ``stack`` and ``proc`` seams)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import stack_sample
from test_procstat import stat_line

from foundation.layout import Layout
from harness.stack import marks


class FakeSupervisor:
    def __init__(self, pid: int, programs: dict[str, int]) -> None:
        self._pid, self.programs = pid, programs

    def pid(self) -> int:
        return self._pid

    def infos(self) -> list[dict[str, Any]]:
        return [{"name": n, "pid": p} for n, p in self.programs.items()] + [
            {"name": "worker-1", "pid": 0}]  # a stopped program has pid 0


class FakeStack:
    def __init__(self, home: Path, supervisor: FakeSupervisor) -> None:
        self.layout = Layout(home=home)
        self.supervisor = supervisor


def add(proc: Path, pid: int, *, ppid: int, session: int, utime: int = 0, cutime: int = 0,
        env: dict[str, str] | None = None, raw_env: bytes | None = None) -> None:
    folder = proc / str(pid)
    folder.mkdir(parents=True)
    (folder / "stat").write_text(stat_line(pid, ppid=ppid, session=session, utime=utime,
                                           cutime=cutime))
    if raw_env is None:
        raw_env = b"".join(f"{k}={v}\0".encode() for k, v in (env or {}).items())
    (folder / "environ").write_bytes(raw_env)


def test_find_names_processes_by_program_and_counts_their_cpu(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    stack = FakeStack(tmp_path / "state", FakeSupervisor(300, {"postgres": 310, "worker-0": 320,
                                                                "storage": 330}))
    mark = {"HARNESS_STACK_ID": marks.stack_id(stack.layout)}
    add(proc, 1, ppid=0, session=1, env={"PATH": "/bin"})
    add(proc, 300, ppid=1, session=300, utime=1, env=mark)  # supervisord
    add(proc, 310, ppid=300, session=300, utime=10, cutime=90, env=mark)  # postmaster
    # a backend: its own session, its title over its environ; found as the postmaster's child
    add(proc, 311, ppid=310, session=311, utime=5, raw_env=b"\0" * 32)
    add(proc, 320, ppid=300, session=300, utime=7,
        env={**mark, stack_sample.TELEMETRY_VAR: "false"})
    add(proc, 330, ppid=300, session=300, utime=3, env=mark)
    add(proc, 400, ppid=1, session=400, utime=2, env=mark)  # an orphan re-parented to init
    add(proc, 500, ppid=1, session=500, utime=50, env={"PATH": "/bin"})  # not ours

    found = stack_sample.find(stack, proc=proc)  # type: ignore[arg-type]
    assert found.owners == {300: "supervisord", 310: "postgres", 311: "postgres",
                            320: "worker-0", 330: "storage", 400: stack_sample.OUTSIDE}
    assert found.ticks() == {"supervisord": 1, "postgres": 105, "worker-0": 7, "storage": 3,
                             stack_sample.OUTSIDE: 2}
    assert stack_sample.telemetry_mode(found, proc) == "false"


def test_telemetry_mode_is_none_when_no_reader_is_readable(tmp_path: Path) -> None:
    found = stack_sample.StackProcesses({}, {}, {"worker-0": 99})
    assert stack_sample.telemetry_mode(found, tmp_path) is None


def test_telemetry_on_reads_the_switch_as_a_bool() -> None:
    assert stack_sample.telemetry_on(None) and stack_sample.telemetry_on("")
    assert stack_sample.telemetry_on("true") and stack_sample.telemetry_on("1")
    assert not stack_sample.telemetry_on("false") and not stack_sample.telemetry_on(" 0 ")
