"""The stack's process mark and its finder, over a fake /proc (an injected proc root)."""

from __future__ import annotations

from pathlib import Path

from foundation.layout import Layout
from harness.stack import marks
from harness.stack.service import Service
from harness.stack.supervisor import render

MARK = "abc123"


class FakeProc:
    """A /proc with only what the finder reads: stat and environ."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def add(self, pid: int, *, ppid: int = 1, session: int = 1, state: str = "S",
            env: dict[str, str] | None = None, raw_env: bytes | None = None,
            comm: str = "proc") -> None:
        folder = self.root / str(pid)
        folder.mkdir(parents=True)
        # Real stat lines: pid (comm) state ppid pgrp session ... ; comm may hold ") ".
        (folder / "stat").write_text(f"{pid} ({comm}) {state} {ppid} {pid} {session} 0 -1 4194560\n")
        if raw_env is None:
            raw_env = b"".join(f"{k}={v}\0".encode() for k, v in (env or {}).items())
        (folder / "environ").write_bytes(raw_env)


def test_stack_id_is_stable_per_state_folder(tmp_path: Path) -> None:
    a, b = Layout(home=tmp_path / "a"), Layout(home=tmp_path / "b")
    assert marks.stack_id(a) == marks.stack_id(Layout(home=tmp_path / "a"))
    assert marks.stack_id(a) != marks.stack_id(b)
    assert marks.mark_env(a) == {"HARNESS_STACK_ID": marks.stack_id(a), "SPT_NOENV": "1"}


def test_finds_marked_processes_including_those_reparented_to_init(tmp_path: Path) -> None:
    proc = FakeProc(tmp_path)
    proc.add(1, ppid=0, env={"PATH": "/bin"})
    proc.add(100, env={"PATH": "/bin"}, comm="bash")                       # the caller's shell
    proc.add(200, ppid=100, env={"PATH": "/bin"}, comm="harness down")    # the caller
    proc.add(300, ppid=1, session=300, env={"HARNESS_STACK_ID": MARK})    # supervisord
    proc.add(301, ppid=300, session=300, env={"HARNESS_STACK_ID": MARK, "X": "1"})
    proc.add(302, ppid=1, session=300, env={"HARNESS_STACK_ID": MARK}, comm="airflow serve-logs")
    proc.add(400, ppid=1, env={"HARNESS_STACK_ID": "another-stack"})
    proc.add(500, ppid=1, env={"PATH": "/bin"}, comm="unrelated")
    assert marks.marked(MARK, proc=tmp_path, me=200) == {300, 301, 302}


def test_a_blank_environ_counts_only_inside_a_stack_session(tmp_path: Path) -> None:
    """setproctitle and PostgreSQL overwrite what /proc/<pid>/environ shows."""
    proc = FakeProc(tmp_path)
    proc.add(10, ppid=1, session=300, raw_env=b"\0" * 64, comm="airflow serve-logs")
    proc.add(11, ppid=1, session=999, raw_env=b"\0" * 64, comm="someone else's")
    proc.add(12, ppid=1, session=300, env={"PATH": "/bin"}, comm="intact, unmarked")
    assert marks.marked(MARK, proc=tmp_path, me=12345) == set()
    assert marks.marked(MARK, sessions={300}, proc=tmp_path, me=12345) == {10}


def test_zombies_unreadable_and_vanished_processes_are_skipped(tmp_path: Path) -> None:
    proc = FakeProc(tmp_path)
    proc.add(20, state="Z", env={"HARNESS_STACK_ID": MARK})
    proc.add(21, env={"HARNESS_STACK_ID": MARK}, comm="odd ) name")
    (tmp_path / "22").mkdir()                     # gone between listdir and read
    (tmp_path / "self").mkdir()                   # not a pid
    assert marks.marked(MARK, proc=tmp_path, me=12345) == {21}


def test_the_caller_and_its_ancestors_are_spared(tmp_path: Path) -> None:
    """`harness down` run from a marked process (an Airflow task) must not end itself."""
    proc = FakeProc(tmp_path)
    proc.add(30, ppid=1, env={"HARNESS_STACK_ID": MARK}, comm="airflow scheduler")
    proc.add(31, ppid=30, env={"HARNESS_STACK_ID": MARK}, comm="task")
    proc.add(32, ppid=31, env={"HARNESS_STACK_ID": MARK}, comm="harness down")
    proc.add(33, ppid=30, env={"HARNESS_STACK_ID": MARK}, comm="another task")
    assert marks.marked(MARK, proc=tmp_path, me=32) == {33}


def test_session_reads_the_session_field(tmp_path: Path) -> None:
    FakeProc(tmp_path).add(40, session=7, comm="a) b")
    assert marks.session(40, proc=tmp_path) == 7
    assert marks.session(41, proc=tmp_path) is None


def test_supervisord_passes_the_mark_to_every_program(tmp_path: Path) -> None:
    layout = Layout(home=tmp_path)
    text = render(layout, [Service(name="x", command=["x"], url="", probe=lambda: None, phase=0)])
    section = text.split("[supervisord]", 1)[1].split("\n\n", 1)[0]
    assert f'HARNESS_STACK_ID="{marks.stack_id(layout)}"' in section
    assert 'SPT_NOENV="1"' in section
