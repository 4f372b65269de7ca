"""Fault events that reach the report even when PostgreSQL is the fault.

The load process records every injected fault as a ``fault`` event of its experiment in the
``events`` table (stage ``faults``; the attrs of :meth:`experiments.faults.Injected.attrs`). When
the fault is a PostgreSQL kill or restart, or the database is otherwise away, that write fails.
:class:`FaultEventLog` keeps such an event in a queue instead of dropping it:

1. the write is tried once at once (through :meth:`Database.run`, a short deadline: the fault's
   own thread waits for it, never the schedule); a failure is logged once per event, and the
   event is queued;
2. the queue is retried by the fault schedule's events thread, with a growing pause between tries
   (:meth:`FaultEventLog.retry_at`), and once more, with a longer deadline, when the schedule ends
   (:meth:`FaultEventLog.flush`);
3. when the load process ends (:meth:`FaultEventLog.close`) a last bounded try is made, and what
   the database still did not take is appended to the experiment's JSON-lines file,
   :func:`spill_file`: ``<HARNESS_HOME>/runs/fault-events/<experiment_id>.jsonl`` (one event per
   line, the events table's columns). The final outcome is logged either way.

Every event has one ``event_id`` from the start, so a retried insert adds no second row
(``ON CONFLICT DO NOTHING``) and the collector (:func:`experiments.collect_sql.fetch_run`) merges
the file with the table without duplicates (:func:`merge_fault_rows`).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2

from foundation.layout import Layout
from foundation.settings import get_settings
from pipeline.storage.db import Database, first_line

log = logging.getLogger(__name__)

Row = dict[str, Any]

STAGE = "faults"
KIND = "fault"

INSERT = """
INSERT INTO events (event_id, experiment_id, stage, kind, ts, attrs)
VALUES (%(event_id)s, %(experiment_id)s, %(stage)s, %(kind)s, %(ts)s, %(attrs)s::jsonb)
ON CONFLICT (event_id) DO NOTHING
"""


@dataclass(frozen=True)
class FaultEventRow:
    """One ``fault`` event as the events table holds it (stage and kind are fixed)."""

    event_id: str
    experiment_id: str
    ts: float
    attrs: dict[str, Any]

    def describe(self) -> str:
        """``kill postgres at 30 s (event 1f2e...)``: what a log line names."""
        attrs = self.attrs
        return (f"{attrs.get('action', '?')} {attrs.get('target', '?')} at "
                f"{float(attrs.get('at_s') or 0):g} s (event {self.event_id})")

    def params(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "experiment_id": self.experiment_id, "stage": STAGE,
                "kind": KIND, "ts": self.ts, "attrs": json.dumps(self.attrs)}

    def to_json(self) -> str:
        return json.dumps({"event_id": self.event_id, "experiment_id": self.experiment_id,
                           "stage": STAGE, "kind": KIND, "ts": self.ts, "attrs": self.attrs})


def spill_file(experiment_id: str, layout: Layout | None = None) -> Path:
    """Where the fault events of EXPERIMENT_ID that PostgreSQL did not take are kept (the
    stack's state folder; the experiment id with anything but ``[A-Za-z0-9._-]`` replaced)."""
    layout = layout or Layout.of(get_settings())
    name = re.sub(r"[^A-Za-z0-9._-]", "_", experiment_id).lstrip(".") or "_"
    return layout.fault_events / f"{name}.jsonl"


def read_spilled(path: Path, experiment_id: str) -> list[Row]:
    """The fault events of EXPERIMENT_ID in the JSON-lines file PATH, as the collector's rows
    (``event_id``, ``ts``, ``attrs``); none when there is no file. A line that does not parse
    (a load process killed mid-write) is skipped with a warning."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    rows: list[Row] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            row = {"event_id": str(item["event_id"]), "ts": float(item["ts"]),
                   "attrs": dict(item["attrs"])}
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s:%d: not a fault event, skipped (%s)", path, number, exc)
            continue
        if item.get("experiment_id", experiment_id) == experiment_id:
            rows.append(row)
    return rows


def merge_fault_rows(table: Iterable[Row], spilled: Iterable[Row]) -> list[Row]:
    """The events table's fault rows and the spilled ones, once per ``event_id`` (the table's
    copy wins), in the order the table query gives (time, then event id)."""
    merged: dict[str, Row] = {}
    for row in [*table, *spilled]:
        merged.setdefault(str(row["event_id"]), row)
    return sorted(merged.values(), key=lambda r: (float(r["ts"]), str(r["event_id"])))


@dataclass
class _Kept:
    row: FaultEventRow
    since: float
    tries: int = 1
    """failed tries so far"""


@dataclass
class FaultEventLog:
    """The fault events of one experiment on their way into the events table (see the module's
    docstring). Thread-safe: the fault schedule's thread records and retries, the load process's
    main thread closes.

    ``db`` is the seam of the tests (a :class:`Database` over a fake ``connect``); ``clock`` is
    the fault schedule's clock (epoch seconds), which :meth:`retry_at` answers in.
    """

    experiment_id: str
    db: Database
    spill: Path
    #: each write, and each retry on a tick, waits this long for the database at most
    write_deadline_s: float = 2.0
    #: the end of the schedule and the end of the load process wait this long at most
    flush_deadline_s: float = 30.0
    #: pauses between retries on the schedule's ticks: first, growth, most
    retry_first_s: float = 1.0
    retry_backoff: float = 2.0
    retry_max_s: float = 30.0
    clock: Callable[[], float] = time.time
    written: int = 0
    written_late: int = 0
    spilled: int = 0
    kept: list[_Kept] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._pause = self.retry_first_s
        self._next_retry: float | None = None
        self._closed = False

    def record(self, row: FaultEventRow) -> None:
        """Write ROW now; if the database does not take it, keep it for a later try."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"fault event log of {self.experiment_id} is closed")
            if self.kept:  # keep the order: behind what is already waiting
                self._keep(row, "earlier fault events are still waiting")
                return
            try:
                self._write(row, self.write_deadline_s)
            except psycopg2.Error as exc:
                self._keep(row, first_line(exc))
                return
            self.written += 1

    def retry_at(self) -> float | None:
        """When (``clock``) the kept events are due for another try; None when none is kept."""
        with self._lock:
            return self._next_retry if self.kept else None

    def retry(self) -> bool:
        """Try the kept events once more if their time has come; True when none is kept."""
        with self._lock:
            if self.kept and self._next_retry is not None and self.clock() >= self._next_retry:
                self._write_kept(self.write_deadline_s)
            return not self.kept

    def flush(self) -> bool:
        """Try the kept events now, waiting up to ``flush_deadline_s``; True when none is kept."""
        with self._lock:
            self._write_kept(self.flush_deadline_s)
            return not self.kept

    def close(self) -> list[FaultEventRow]:
        """The load process ends: a last try (up to ``flush_deadline_s``), then append what is
        still kept to :attr:`spill`; returns those events. Logs the outcome. Idempotent."""
        with self._lock:
            if self._closed:
                return []
            self._closed = True
            try:
                self._write_kept(self.flush_deadline_s)
            finally:
                self.db.close()
            left = [kept.row for kept in self.kept]
            if left:
                try:
                    self._append(left)
                except OSError:  # the events themselves go to the log: nothing is lost unsaid
                    log.exception("fault events of %s neither in PostgreSQL nor in %s: %s",
                                  self.experiment_id, self.spill,
                                  " ".join(row.to_json() for row in left))
                    raise
                self.spilled += len(left)
                self.kept.clear()
            self._log_outcome(left)
            return left

    # --- under the lock ----------------------------------------------------------------------

    def _write(self, row: FaultEventRow, deadline_s: float) -> None:
        def insert(conn: Any) -> None:
            with conn.cursor() as cur:
                cur.execute(INSERT, row.params())

        self.db.run(insert, deadline_s, what=f"fault event {row.event_id}")

    def _keep(self, row: FaultEventRow, why: str) -> None:
        log.warning("fault event %s of %s not written to PostgreSQL (%s): kept, retried with "
                    "backoff, and appended to %s if the load ends first", row.describe(),
                    self.experiment_id, why, self.spill)
        self.kept.append(_Kept(row, since=self.clock()))
        if self._next_retry is None:
            self._next_retry = self.clock() + self._pause

    def _write_kept(self, deadline_s: float) -> None:
        while self.kept:
            kept = self.kept[0]
            try:
                self._write(kept.row, deadline_s)
            except psycopg2.Error as exc:
                kept.tries += 1
                self._pause = min(self._pause * self.retry_backoff, self.retry_max_s)
                self._next_retry = self.clock() + self._pause
                log.debug("fault event %s still not written (%s); next try in %.0f s",
                          kept.row.event_id, first_line(exc), self._pause)
                return
            self.kept.pop(0)
            self.written += 1
            self.written_late += 1
            log.info("fault event %s of %s written at try %d (%.1f s late)",
                     kept.row.describe(), self.experiment_id, kept.tries + 1,
                     self.clock() - kept.since)
        self._pause = self.retry_first_s
        self._next_retry = None

    def _append(self, rows: Sequence[FaultEventRow]) -> None:
        self.spill.parent.mkdir(parents=True, exist_ok=True)
        with self.spill.open("a", encoding="utf-8") as out:
            for row in rows:
                out.write(row.to_json() + "\n")
            out.flush()

    def _log_outcome(self, left: Sequence[FaultEventRow]) -> None:
        if left:
            log.error("%d fault event(s) of %s could not be written to PostgreSQL: appended to %s, "
                      "where the collector reads them (%s)", len(left), self.experiment_id,
                      self.spill, "; ".join(row.describe() for row in left))
        log.info("fault events of %s: %d written to PostgreSQL (%d after a deferral), %d appended "
                 "to %s", self.experiment_id, self.written, self.written_late, self.spilled,
                 self.spill)
