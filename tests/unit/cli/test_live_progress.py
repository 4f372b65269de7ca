"""Live progress: the snapshot's text, one line redrawn in place on a terminal, time-stamped log
lines elsewhere; a failed read is skipped, never raised."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from experiments.progress import ProgressSnapshot, describe
from harness.commands._follow import TaskChanges
from harness.live_progress import LiveProgress

SNAP = ProgressSnapshot(
    label="demo-1", phase="loading", status="running", reason=None, sent=120, accepted=95,
    low_quality=3, dead_lettered=2, in_flight=20, e2e_p50_s=0.431, e2e_p99_s=0.842,
    llm_calls=130, llm_errors=13)


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _live(tty: bool, reads: list) -> tuple[LiveProgress, Stream, Clock]:
    stream, clock = Stream(tty), Clock()
    answers = iter(reads)

    def read() -> ProgressSnapshot | None:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return LiveProgress(read, stream, clock=clock, wall=lambda: 0.0), stream, clock


def test_the_snapshot_figures():
    assert SNAP.answered == 98 and SNAP.ended == 100
    assert SNAP.error_rate == pytest.approx(0.02) and SNAP.llm_error_rate == pytest.approx(0.1)
    empty = replace(SNAP, accepted=0, low_quality=0, dead_lettered=0, llm_calls=0, llm_errors=0)
    assert empty.error_rate is None and empty.llm_error_rate is None


def test_the_log_line_spells_out_every_figure():
    assert describe(SNAP, 41.2) == (
        "demo-1 loading: sent 120, answered 98 (accepted 95, low quality 3), dead-lettered 2, "
        "in flight 20; e2e p50 0.43 s, p99 0.84 s; errors 2.0% of questions, 10.0% of 130 LLM "
        "calls; 41 s")


def test_the_terminal_line_is_compact():
    assert describe(SNAP, 41.2, compact=True) == (
        "loading | sent 120 | answered 98 | in flight 20 | dlq 2 | p50 0.43 s | p99 0.84 s | "
        "err 2.0% | 41 s")
    none_yet = replace(SNAP, e2e_p50_s=None, e2e_p99_s=None, accepted=0, low_quality=0,
                       dead_lettered=0)
    assert "p50 - | p99 - | err -" in describe(none_yet, compact=True)


def test_on_a_terminal_one_line_is_redrawn_and_notes_scroll_above_it():
    later = replace(SNAP, sent=130, in_flight=10)
    live, stream, clock = _live(True, [SNAP, later])
    live.refresh()
    clock.now += 3
    live.note("task load: success (3/9 tasks done)")
    live.refresh()
    out = stream.getvalue()
    first = describe(SNAP, 0, compact=True)
    second = describe(later, 3, compact=True)
    assert out.startswith(first)
    assert out.count("\n") == 1  # only the note ends a line
    assert "\r" + " " * len(first) + "\rtask load: success (3/9 tasks done)\n" + first in out
    assert out.endswith("\r" + " " * len(first) + "\r" + second)


def test_stop_ends_the_terminal_line_and_returns_the_last_snapshot():
    live, stream, _ = _live(True, [SNAP])
    live.show(SNAP)
    assert live.stop() == SNAP  # the final read fails (no more answers): the last one stays
    assert stream.getvalue().endswith("\n")


def test_elsewhere_every_change_is_a_time_stamped_line_and_repeats_are_not_written():
    later = replace(SNAP, accepted=100, in_flight=15)
    live, stream, clock = _live(False, [SNAP, SNAP, later])
    live.refresh()
    clock.now += 3
    live.refresh()  # same figures: nothing written
    live.note("task load: success (3/9 tasks done)")
    clock.now += 3
    live.refresh()
    lines = stream.getvalue().splitlines()
    stamp = lines[0][:8]
    assert lines == [f"{stamp} progress {describe(SNAP, 0)}",
                     f"{stamp} task load: success (3/9 tasks done)",
                     f"{stamp} progress {describe(later, 6)}"]
    assert "\r" not in stream.getvalue()


def test_a_failed_read_is_skipped_and_the_last_snapshot_kept(caplog):
    live, stream, _ = _live(False, [SNAP, OSError("connection refused"), None])
    assert live.refresh() == SNAP
    assert live.refresh() == SNAP
    assert "progress unavailable for now: OSError: connection refused" in caplog.text
    assert live.refresh() == SNAP  # not registered yet / gone: nothing new to show
    assert stream.getvalue().count("progress ") == 1


def test_task_changes_become_notes_once_each():
    notes: list[str] = []
    changes = TaskChanges(notes.append)
    changes([{"task_id": "validate", "state": "success"}, {"task_id": "load", "state": None}])
    changes([{"task_id": "validate", "state": "success"}, {"task_id": "load", "state": "running"}])
    assert notes == ["task validate: success (1/2 tasks done)",
                     "task load: running (1/2 tasks done)"]


def test_on_a_terminal_log_lines_are_written_above_the_live_line_and_the_handler_comes_back():
    import logging

    terminal = Stream(True)
    handler = logging.StreamHandler(terminal)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        live, stream, _ = _live(True, [SNAP, SNAP])
        live.start()
        live._stop.set()  # no background refresh: the test draws by hand
        assert handler not in root.handlers
        logging.getLogger("harness.test").warning("storage restarted")
        out = stream.getvalue()
        drawn = describe(SNAP, 0.0, compact=True)
        assert out.endswith("\r" + " " * len(drawn) + "\r" + "WARNING storage restarted\n" + drawn)
        assert terminal.getvalue() == ""  # nothing written under the line
        live.stop()
        assert handler in root.handlers and not any(
            type(h).__name__ == "_AboveTheLine" for h in root.handlers)
        logging.getLogger("harness.test").warning("after")
        assert terminal.getvalue() == "WARNING after\n"
    finally:
        root.removeHandler(handler)


def test_off_a_terminal_log_handlers_are_left_alone():
    import logging

    pipe = Stream(False)
    handler = logging.StreamHandler(pipe)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        live, _, _ = _live(False, [SNAP, SNAP])
        live.start()
        assert handler in root.handlers
        live.stop()
        assert handler in root.handlers
    finally:
        root.removeHandler(handler)
