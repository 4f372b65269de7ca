"""The clockwork of a fault schedule: every fault starts at its own time.

:class:`FaultRunner` (re-exported by :mod:`experiments.faults`, where the spec and the injector
live) runs three kinds of threads:

* the schedule loop (thread ``faults``) only dispatches: at each fault's ``at_s`` it starts a
  thread for that fault, so a slow action (a JobManager restart waits for the scoring job to be
  resubmitted) never delays the faults after it;
* one thread per fault injects it, holds a pause or an outage for its ``duration_s`` and ends
  it, then records it. Faults on the same target (:func:`same_target`) never overlap: a target is
  busy from a fault's injection until its end, and a fault whose target is still busy with an
  earlier one starts when that one is done; the log says how late it started and why, and so
  does the fault's ``detail``;
* with a ``record`` that keeps what the database did not take (:class:`DeferringRecord`), one
  more thread (``fault-events``) retries those events when they are due and flushes them once
  every fault of the schedule is settled.

:meth:`FaultRunner.stop` (and :meth:`FaultRunner.close`, which the load process calls in a
``finally``) injects nothing more and ends every pause and outage in progress at once. A pause or
outage whose injection raised is ended at once as well: part of it may have taken effect (SIGSTOP
sent to some workers of several), and nothing may stay stopped or out.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from experiments.faults import FaultSpec, Injector

log = logging.getLogger(__name__)

#: actions that last ``duration_s`` and are ended by :meth:`Injector.end`
LASTING = ("pause", "outage")


@dataclass
class Injected:
    """A fault as it happened (written to the run's events as a ``fault`` event)."""

    fault: dict[str, Any]
    started_at: float
    ended_at: float | None = None
    detail: str = ""
    error: str | None = None
    #: the event's id, one per fault: a retried write adds no second row, and the collector
    #: merges the events table with the run's file of unwritten events without duplicates
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def attrs(self) -> dict[str, Any]:
        return {**self.fault, "started_at": self.started_at, "ended_at": self.ended_at,
                "detail": self.detail, "error": self.error}

    def note(self, text: str) -> None:
        """Add TEXT to what was done."""
        self.detail = f"{self.detail}; {text}" if self.detail else text


@runtime_checkable
class DeferringRecord(Protocol):
    """A ``record`` of :class:`FaultRunner` that may keep a fault it could not store yet (the
    database being the fault's target) and store it later: the runner wakes at
    :meth:`retry_at` to :meth:`retry`, calls :meth:`flush` when its schedule ends, and
    :meth:`close` when the load process is done with it (see
    :class:`experiments.faults.EventsRecord`)."""

    def __call__(self, injected: Injected) -> None: ...

    def retry_at(self) -> float | None: ...

    def retry(self) -> bool: ...

    def flush(self) -> bool: ...

    def close(self) -> None: ...


def same_target(a: FaultSpec, b: FaultSpec) -> bool:
    """Whether A and B hit the same process: the same target and, for workers, the same worker,
    or all of them (no ``worker``) against any."""
    if a.target != b.target:
        return False
    return a.target != "worker" or a.worker is None or b.worker is None or a.worker == b.worker


def describe(fault: FaultSpec) -> str:
    """``pause worker 0 at 430 s``: what a log line names."""
    worker = "" if fault.worker is None else f" {fault.worker}"
    return f"{fault.action} {fault.target}{worker} at {fault.at_s:g} s"


@dataclass
class FaultRunner:
    """Runs a schedule of faults relative to ``start`` (see the module's docstring); every fault
    is recorded through ``record`` when it ends, or at once when it does not last. Stops early on
    :meth:`stop` (a pause or outage in progress is ended).

    A ``record`` that keeps what it could not store (a :class:`DeferringRecord`) is retried when
    due while the schedule runs, flushed when every fault is settled, and closed by
    :meth:`close`, which the load process calls once it is done with the runner."""

    faults: Sequence[FaultSpec]
    injector: Injector
    record: Callable[[Injected], None] = lambda injected: None
    clock: Callable[[], float] = time.time
    #: waits on the condition it is given (held) until it is notified or ``clock`` reads the
    #: deadline (``inf``: until notified); None: the condition's own wait on real time. The seam
    #: of tests that move ``clock`` themselves.
    wait_on: Callable[[threading.Condition, float], object] | None = None
    done: list[Injected] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._order = sorted(self.faults, key=lambda f: f.at_s)  # stable: spec order on ties
        self._cv = threading.Condition()  # guards what follows; notified on every change
        self._stopping = False
        self._settled = [False] * len(self._order)  # ended, failed, or never to be injected
        self._changes = 0
        self._fault_threads: list[threading.Thread] = []
        self._schedule: threading.Thread | None = None
        self._events: threading.Thread | None = None
        self._record_lock = threading.Lock()  # ``done`` in the order ``record`` is called
        self._start = 0.0

    # --- the public API (experiments.runner, experiments.loader) ---------------------------------

    def start(self, at: float | None = None) -> FaultRunner:
        self._start = self.clock() if at is None else at
        self._schedule = threading.Thread(target=self._dispatch, name="faults", daemon=True)
        if isinstance(self.record, DeferringRecord):
            self._events = threading.Thread(target=self._keep_events, name="fault-events",
                                            daemon=True)
            self._events.start()
        self._schedule.start()
        return self

    def stop(self, timeout_s: float = 120.0) -> None:
        """Inject nothing more, end whatever is paused or out, and wait up to TIMEOUT_S for
        actions in progress (a restart) to return."""
        with self._cv:
            self._stopping = True
            self._changed()
        alive = self._join(timeout_s)
        if alive:
            log.warning("fault schedule stopped, but still in progress after %.0f s: %s",
                        timeout_s, ", ".join(alive))

    def wait(self, timeout_s: float | None = None) -> None:
        """Until every fault of the schedule has been injected and ended (and the events kept
        meanwhile flushed)."""
        self._join(timeout_s)

    def close(self, timeout_s: float = 120.0) -> None:
        """The load process is done with this schedule: stop it if it still runs (whatever is
        paused or out is ended), then close a deferring ``record`` (a last try of what it kept;
        what the database still does not take goes to the run's file)."""
        self.stop(timeout_s)
        if isinstance(self.record, DeferringRecord):
            try:
                self.record.close()
            except Exception:  # logged with the events it could not keep; the load goes on
                log.exception("closing the fault events failed")

    # --- waiting ---------------------------------------------------------------------------------

    def _changed(self) -> None:
        """Under the condition: wake every thread to look again."""
        self._changes += 1
        self._cv.notify_all()

    def _wait(self, deadline: float) -> None:
        """Under the condition: until notified or DEADLINE (``clock``)."""
        if self.wait_on is not None:
            self.wait_on(self._cv, deadline)
        else:
            self._cv.wait(None if math.isinf(deadline) else max(0.0, deadline - self.clock()))

    def _until(self, deadline: float) -> bool:
        """Wait until DEADLINE; False when stopped first."""
        with self._cv:
            while not self._stopping and self.clock() < deadline:
                self._wait(deadline)
            return not self._stopping

    def _join(self, timeout_s: float | None) -> list[str]:
        """Join the schedule loop (which starts the fault threads), the fault threads, then the
        events thread, within TIMEOUT_S in all; the names of those still alive."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        if self._schedule is not None:
            self._schedule.join(left())
        with self._cv:
            threads = list(self._fault_threads)
        if self._events is not None:
            threads.append(self._events)
        for thread in threads:
            thread.join(left())
        return [t.name for t in [self._schedule, *threads] if t is not None and t.is_alive()]

    # --- the schedule loop: dispatch only ----------------------------------------------------------

    def _dispatch(self) -> None:
        for index, fault in enumerate(self._order):
            if not self._until(self._start + fault.at_s):
                self._skip(range(index, len(self._order)))
                return
            thread = threading.Thread(target=self._run_fault, args=(index,),
                                      name=f"fault {describe(fault)}", daemon=True)
            with self._cv:  # started before anyone can join it
                thread.start()
                self._fault_threads.append(thread)

    def _skip(self, indices: range) -> None:
        with self._cv:
            for index in indices:
                self._settled[index] = True
                log.info("fault %s not injected: the schedule was stopped",
                         describe(self._order[index]))
            self._changed()

    # --- one thread per fault --------------------------------------------------------------------

    def _run_fault(self, index: int) -> None:
        try:
            waited_for = self._wait_for_target(index)
            if waited_for is not None:
                self._run(self._order[index], waited_for)
        finally:
            with self._cv:
                self._settled[index] = True
                self._changed()

    def _wait_for_target(self, index: int) -> list[FaultSpec] | None:
        """Until no earlier fault on the same target is in progress; the faults it waited for,
        or None when the schedule was stopped first (the fault is not injected)."""
        fault = self._order[index]
        with self._cv:
            blockers = [j for j in range(index)
                        if not self._settled[j] and same_target(self._order[j], fault)]
            if blockers:
                log.info("fault %s is due but waits: %s is busy with %s", describe(fault),
                         fault.target, ", ".join(describe(self._order[j]) for j in blockers))
            while not self._stopping and not all(self._settled[j] for j in blockers):
                self._wait(math.inf)
            if self._stopping:
                log.info("fault %s not injected: the schedule was stopped", describe(fault))
                return None
        return [self._order[j] for j in blockers]

    def _run(self, fault: FaultSpec, waited_for: list[FaultSpec]) -> None:
        injected = Injected(fault.model_dump(), started_at=self.clock())
        late = ""
        if waited_for:
            late = (f"started {injected.started_at - self._start - fault.at_s:.1f} s late: "
                    f"{fault.target} was busy with {', '.join(map(describe, waited_for))}")
            log.warning("fault %s %s", describe(fault), late)
        lasting = fault.action in LASTING
        try:
            self._inject(fault, injected)
            if late:
                injected.note(late)
            if lasting and injected.error is None:
                self._until(injected.started_at + fault.duration_s)
        finally:  # a pause or an outage is ended whatever happened, and every fault recorded
            if lasting:
                self._end(fault, injected)
            else:
                injected.ended_at = injected.started_at
            self._done(injected)

    def _inject(self, fault: FaultSpec, injected: Injected) -> None:
        try:
            injected.note(self.injector.inject(fault))
            log.info("fault at %.0f s: %s", fault.at_s, injected.detail)
        except Exception as exc:  # recorded with the fault: the report says it failed
            injected.error = f"{type(exc).__name__}: {exc}"
            log.error("fault %s failed: %s%s", describe(fault), injected.error,
                      "; ending it at once (part of it may have taken effect)"
                      if fault.action in LASTING else "")

    def _end(self, fault: FaultSpec, injected: Injected) -> None:
        try:
            detail = self.injector.end(fault)
            if detail:
                injected.note(detail)
        except Exception as exc:
            failed = f"ending it failed: {type(exc).__name__}: {exc}"
            injected.error = f"{injected.error}; {failed}" if injected.error else failed
            log.error("ending fault %s failed: %s", describe(fault), exc)
        injected.ended_at = self.clock()

    def _done(self, injected: Injected) -> None:
        with self._record_lock:
            self.done.append(injected)
            try:
                self.record(injected)
            except Exception:  # a record that fails outright: the fault stays in ``done`` only
                log.exception("fault %s %s (event %s) not recorded",
                              injected.fault.get("action"), injected.fault.get("target"),
                              injected.event_id)

    # --- the events the database did not take ------------------------------------------------------

    def _keep_events(self) -> None:
        """Retry the kept events when due until every fault is settled, then flush them."""
        record = self.record
        assert isinstance(record, DeferringRecord)
        try:
            while True:
                with self._cv:
                    if all(self._settled):
                        return
                    seen = self._changes
                due = self._retry_at(record)
                with self._cv:
                    if self._changes == seen and not all(self._settled):
                        self._wait(due)
                try:
                    record.retry()
                except Exception:  # never let the record stop the schedule
                    log.exception("retrying the kept fault events failed")
        finally:
            try:
                record.flush()  # the end of the schedule: one longer, bounded try
            except Exception:
                log.exception("flushing the kept fault events failed")

    @staticmethod
    def _retry_at(record: DeferringRecord) -> float:
        try:
            return record.retry_at() or math.inf
        except Exception:
            log.exception("asking the kept fault events when to retry failed")
            return math.inf


__all__ = ["LASTING", "DeferringRecord", "FaultRunner", "Injected", "describe", "same_target"]
