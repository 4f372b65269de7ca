"""/proc parsing and the CPU attribution of bench/procstat.py, over text and a fake /proc."""

from __future__ import annotations

import os
from pathlib import Path

import procstat


def stat_line(pid: int, *, comm: str = "proc", state: str = "S", ppid: int = 1, session: int = 1,
              utime: int = 0, stime: int = 0, cutime: int = 0, cstime: int = 0) -> str:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime ...
    return (f"{pid} ({comm}) {state} {ppid} {pid} {session} 0 -1 4194560 10 0 0 0 "
            f"{utime} {stime} {cutime} {cstime} 20 0 1 0 100 1000 50\n")


def test_parse_stat_splits_after_the_last_parenthesis() -> None:
    stat = procstat.parse_stat(stat_line(7, comm="a) b (c", state="R", ppid=3, utime=5,
                                         stime=2, cutime=11, cstime=4))
    assert stat == procstat.Stat(state="R", ppid=3, own_ticks=7, children_ticks=15)
    assert stat.ticks == 22


def test_parse_stat_reads_this_process() -> None:
    stat = procstat.read_stat(os.getpid())
    assert stat is not None and stat.ppid == os.getppid() and stat.own_ticks >= 0


def test_parse_rollup_takes_rss_and_pss_in_kb() -> None:
    text = ("55d0c0000000-7ffd00000000 ---p 00000000 00:00 0   [rollup]\n"
            "Rss:              102400 kB\nPss:               51234 kB\nPss_Anon:  1 kB\n"
            "Shared_Clean:       100 kB\n")
    assert procstat.parse_rollup(text) == (102400, 51234)


def test_parse_environ_skips_blank_and_valueless_items() -> None:
    raw = b"A=1\0B=x=y\0\0\0JUNK\0"
    assert procstat.parse_environ(raw) == {"A": "1", "B": "x=y"}


def test_readers_return_none_for_a_gone_process(tmp_path: Path) -> None:
    assert procstat.read_stat(4242, tmp_path) is None
    assert procstat.read_rollup(4242, tmp_path) is None
    assert procstat.read_environ(4242, tmp_path) is None
    assert procstat.read_cmdline(4242, tmp_path) == ""


def test_stats_reads_every_numeric_entry(tmp_path: Path) -> None:
    for pid in (1, 20):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(stat_line(pid, utime=pid))
    (tmp_path / "self").mkdir()
    (tmp_path / "30").mkdir()  # gone between listing and reading: no stat
    assert {pid: s.own_ticks for pid, s in procstat.stats(tmp_path).items()} == {1: 1, 20: 20}


PARENTS = {1: 0, 10: 1, 11: 10, 12: 11, 20: 1, 21: 20, 30: 1}


def test_attribute_names_each_process_by_its_nearest_root() -> None:
    roots = {10: "postgres", 20: "flink-taskmanager", 12: "nested"}
    owners = procstat.attribute([10, 11, 12, 21, 30], PARENTS, roots, default="other")
    assert owners == {10: "postgres", 11: "postgres", 12: "nested", 21: "flink-taskmanager",
                      30: "other"}


def test_attribute_survives_a_cycle_in_the_parent_map() -> None:
    assert procstat.attribute([5], {5: 6, 6: 5}, {}) == {5: "other"}


def test_below_is_the_roots_and_their_descendants() -> None:
    assert procstat.below([10, 99], PARENTS) == {10, 11, 12}


def test_ticks_by_service_count_reaped_children_once() -> None:
    stat_of = {10: procstat.Stat("S", 1, 100, 40), 11: procstat.Stat("S", 10, 5, 0),
               21: procstat.Stat("Z", 20, 3, 0)}
    owners = {10: "postgres", 11: "postgres", 21: "flink", 99: "gone"}
    assert procstat.ticks_by_service(owners, stat_of) == {"postgres": 145, "flink": 3}


def test_cpu_delta_is_per_service_in_seconds_and_never_negative() -> None:
    before = {"postgres": 100, "kafka": 50, "gone": 30}
    after = {"postgres": 300, "kafka": 40, "new": 10}
    assert procstat.cpu_delta_s(before, after, clk_tck=100) == {
        "postgres": 2.0, "kafka": 0.0, "gone": 0.0, "new": 0.1}
