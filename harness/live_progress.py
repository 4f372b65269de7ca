"""Live progress of a run on the console, refreshed every few seconds while a command follows it.

On a terminal the figures (:func:`experiments.progress.describe`, compact) are one line redrawn in
place, and notes (the DAG's task changes, the runner's messages) scroll above it; elsewhere (a
pipe, a CI log) every change is a time-stamped line of its own. On a terminal, log records that
would be written to it while the line is shown (the root logger's stream handlers on a TTY) are
written above the line as notes, so they do not break it. The figures come from a READ
callable (normally :func:`experiments.progress.read_progress` on a connection of its own), run on
a background thread: a read that fails is skipped (the display never fails the run it shows).
"""

from __future__ import annotations

import logging
import shutil
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

from experiments.progress import ProgressSnapshot, describe

log = logging.getLogger(__name__)

#: seconds between two reads of the database
DEFAULT_INTERVAL_S = 3.0

Read = Callable[[], "ProgressSnapshot | None"]


class _AboveTheLine(logging.Handler):
    """Stands in for a terminal stream handler while the live line is shown: the same level and
    format, written as a note above the line."""

    def __init__(self, live: LiveProgress, replaced: logging.Handler) -> None:
        super().__init__(replaced.level)
        self.setFormatter(replaced.formatter)
        self.live = live
        self.replaced = replaced

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.live.note(self.format(record))
        except Exception:  # a log line must never fail the command
            self.handleError(record)


def _on_a_terminal(handler: logging.Handler) -> bool:
    stream = getattr(handler, "stream", None)
    return isinstance(handler, logging.StreamHandler) and bool(
        getattr(stream, "isatty", lambda: False)())


class LiveProgress:
    """Shows READ's snapshot every INTERVAL_S seconds on STREAM between :meth:`start` and
    :meth:`stop` (or as a context manager). ``clock`` (monotonic) and ``wall`` (epoch) are the
    tests' seams."""

    def __init__(self, read: Read, stream: TextIO | None = None,
                 interval_s: float = DEFAULT_INTERVAL_S, *,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.read = read
        self.stream = stream if stream is not None else sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s
        self.clock = clock
        self.wall = wall
        self.started = clock()
        self.last: ProgressSnapshot | None = None
        self._said = ""  # the last figures written (non-TTY: only changes are written)
        self._line = ""  # the line drawn in place (TTY)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed = False
        self._swapped: list[_AboveTheLine] = []

    # -- output ------------------------------------------------------------------------------
    def _stamp(self) -> str:
        return time.strftime("%H:%M:%S", time.localtime(self.wall()))

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _clear(self) -> str:
        return "\r" + " " * len(self._line) + "\r" if self._line else ""

    def _draw(self, line: str) -> None:
        width = max(shutil.get_terminal_size((120, 24)).columns - 1, 20)
        line = line[:width]
        self._write(self._clear() + line)
        self._line = line

    def note(self, text: str) -> None:
        """A secondary line (a task changed state, a step said something)."""
        with self._lock:
            if self.tty:
                self._write(self._clear() + text + "\n" + self._line)
            else:
                self._write(f"{self._stamp()} {text}\n")

    def show(self, snapshot: ProgressSnapshot) -> None:
        """Write SNAPSHOT (on a terminal in place; elsewhere only when the figures changed)."""
        elapsed = self.clock() - self.started
        with self._lock:
            self.last = snapshot
            if self.tty:
                self._draw(describe(snapshot, elapsed, compact=True))
                return
            figures = describe(snapshot)
            if figures != self._said:
                self._said = figures
                self._write(f"{self._stamp()} progress {describe(snapshot, elapsed)}\n")

    # -- reading ------------------------------------------------------------------------------
    def refresh(self) -> ProgressSnapshot | None:
        """Read and show once; the last snapshot shown (None before the first read succeeds)."""
        try:
            snapshot = self.read()
        except Exception as exc:  # a display must not fail the run: skip this refresh
            if not self._failed:
                log.warning("progress unavailable for now: %s: %s", type(exc).__name__,
                            str(exc).strip().splitlines()[0] if str(exc).strip() else "")
            self._failed = True
            return self.last
        self._failed = False
        if snapshot is not None:
            self.show(snapshot)
        return self.last

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.refresh()

    def _route_logs_above_the_line(self) -> None:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if _on_a_terminal(handler):
                above = _AboveTheLine(self, handler)
                root.removeHandler(handler)
                root.addHandler(above)
                self._swapped.append(above)

    def _restore_logs(self) -> None:
        root = logging.getLogger()
        for above in self._swapped:
            root.removeHandler(above)
            root.addHandler(above.replaced)
        self._swapped = []

    def start(self) -> LiveProgress:
        if self.tty:
            self._route_logs_above_the_line()
        self.refresh()
        self._thread = threading.Thread(target=self._loop, name="live-progress", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> ProgressSnapshot | None:
        """Stop refreshing, show the final figures once more, end the line; the last snapshot."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        last = self.refresh()
        with self._lock:
            if self.tty and self._line:
                self._write("\n")
                self._line = ""
        self._restore_logs()
        return last

    def __enter__(self) -> LiveProgress:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
