"""The fault schedule's clockwork (experiments.fault_schedule): each fault starts at its own time
however long an earlier fault's action takes, faults on one target never overlap (the late one
says why), and stopping ends a pause or an outage in progress, also one whose injection raised.

The seams: a manual clock that only the test moves (the runner's ``clock`` and ``wait_on``) and
an injector whose actions on chosen targets take as long as the test holds them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from db_fakes import FakeServer

from experiments.fault_events import merge_fault_rows, read_spilled
from experiments.fault_schedule import FaultRunner, Injected, same_target
from experiments.faults import FaultSpec, parse_faults, record_in_events
from pipeline.storage.db import Database
from pipeline.storage.settings import DatabaseSettings

T0 = 1_000.0
PATIENCE_S = 10.0  # real seconds a test waits for a thread before it fails (never slept)


class ManualClock:
    """Seconds that only :meth:`advance_to` moves; :meth:`wait_on` is the runner's wait."""

    def __init__(self, now: float = T0) -> None:
        self.now = now
        self._lock = threading.Lock()
        self._waiting: set[threading.Condition] = set()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def wait_on(self, cv: threading.Condition, deadline: float) -> None:
        with self._lock:  # registered before the time is read: advance_to cannot slip between
            self._waiting.add(cv)
            due = self.now >= deadline
        if not due:
            cv.wait(PATIENCE_S)

    def advance_to(self, now: float) -> None:
        with self._lock:
            self.now = now
            waiting = list(self._waiting)
        for cv in waiting:
            with cv:
                cv.notify_all()


class SlowInjector:
    """Records each call with the clock's time. An injection on a target in ``slow`` returns
    only when the test calls :meth:`finish` (a JobManager restart that waits for the scoring
    job); one on a target in ``fail`` raises. Two injections on one target at once are noted."""

    def __init__(self, clock: ManualClock, slow: tuple[str, ...] = (),
                 fail: tuple[str, ...] = ()) -> None:
        self.clock = clock
        self.slow, self.fail = slow, fail
        self.calls: list[tuple[str, float]] = []
        self.overlaps: list[str] = []
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._released: dict[str, threading.Event] = {}

    def _call(self, what: str) -> None:
        with self._changed:
            self.calls.append((what, self.clock()))
            self._changed.notify_all()

    def called(self, what: str) -> float:
        """The clock's time at the call WHAT, once it has been made."""
        with self._changed:
            assert self._changed.wait_for(lambda: any(c == what for c, _ in self.calls),
                                          PATIENCE_S), f"no {what!r} in {self.calls}"
            return next(at for c, at in self.calls if c == what)

    def finish(self, target: str) -> None:
        self._released.setdefault(target, threading.Event()).set()

    def inject(self, fault: FaultSpec) -> str:
        with self._lock:
            if fault.target in self._busy:
                self.overlaps.append(fault.target)
            self._busy.add(fault.target)
        try:
            self._call(f"{fault.action} {fault.target}")
            if fault.target in self.slow:
                released = self._released.setdefault(fault.target, threading.Event())
                assert released.wait(PATIENCE_S), f"{fault.target} never released"
            if fault.target in self.fail:
                raise RuntimeError("signalProcess failed for worker-1")
            return f"did {fault.action} {fault.target}"
        finally:
            with self._lock:
                self._busy.discard(fault.target)

    def end(self, fault: FaultSpec) -> str:
        self._call(f"end {fault.action} {fault.target}")
        return "ended"


class LogWatch(logging.Handler):
    """The schedule's log lines as they come; :meth:`expect` waits for one (no sleeping)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []
        self._seen = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._seen:
            self.messages.append(record.getMessage())
            self._seen.notify_all()

    def expect(self, text: str) -> None:
        with self._seen:
            assert self._seen.wait_for(lambda: any(text in m for m in self.messages),
                                       PATIENCE_S), f"no log line with {text!r}: {self.messages}"


@pytest.fixture
def watch(caplog: pytest.LogCaptureFixture) -> Iterator[LogWatch]:
    caplog.set_level(logging.INFO, logger="experiments.fault_schedule")
    handler = LogWatch()
    logger = logging.getLogger("experiments.fault_schedule")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


class Recorded(list[Injected]):
    """The runner's ``record``: the faults recorded so far; :meth:`expect` waits for one."""

    def __init__(self) -> None:
        super().__init__()
        self._added = threading.Condition()

    def __call__(self, injected: Injected) -> None:
        with self._added:
            self.append(injected)
            self._added.notify_all()

    def expect(self, action: str, target: str) -> Injected:
        def found() -> Injected | None:
            return next((i for i in self if (i.fault["action"], i.fault["target"]) ==
                         (action, target)), None)

        with self._added:
            assert self._added.wait_for(lambda: found() is not None, PATIENCE_S), \
                f"{action} {target} not recorded"
            return found()  # type: ignore[return-value]


def runner_of(faults: list[dict], injector: SlowInjector, clock: ManualClock,
              recorded: Recorded | None = None) -> FaultRunner:
    record = recorded if recorded is not None else Recorded()
    return FaultRunner(parse_faults(faults), injector, record=record, clock=clock,
                       wait_on=clock.wait_on).start(at=T0)


def test_faults_start_in_time_order_and_lasting_ones_end_after_their_duration() -> None:
    clock = ManualClock()
    injector = SlowInjector(clock)
    recorded = Recorded()
    runner = runner_of([
        {"at_s": 10, "action": "kill", "target": "storage"},
        {"at_s": 0, "action": "pause", "target": "worker", "worker": 0, "duration_s": 20},
        {"at_s": 5, "action": "outage", "target": "llm", "duration_s": 5, "status": 529},
    ], injector, clock, recorded)
    for now, call in [(0, "pause worker"), (5, "outage llm"), (10, "kill storage"),
                      (10, "end outage llm"), (20, "end pause worker")]:
        clock.advance_to(T0 + now)
        assert injector.called(call) == T0 + now
    runner.wait(timeout_s=PATIENCE_S)
    assert [call for call, _ in injector.calls][:2] == ["pause worker", "outage llm"]
    pause, outage = recorded.expect("pause", "worker"), recorded.expect("outage", "llm")
    assert (pause.started_at, pause.ended_at, pause.detail) == (T0, T0 + 20,
                                                                "did pause worker; ended")
    assert (outage.started_at, outage.ended_at, outage.fault["status"]) == (T0 + 5, T0 + 10, 529)


def test_a_slow_fault_does_not_delay_the_faults_after_it(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    injector = SlowInjector(clock, slow=("flink-jobmanager",))
    recorded = Recorded()
    runner = runner_of([
        {"at_s": 370, "action": "restart", "target": "flink-jobmanager"},
        {"at_s": 430, "action": "pause", "target": "worker", "duration_s": 20},
        {"at_s": 440, "action": "kill", "target": "storage"},
    ], injector, clock, recorded)
    clock.advance_to(T0 + 370)
    assert injector.called("restart flink-jobmanager") == T0 + 370
    clock.advance_to(T0 + 430)  # the restart still waits for the scoring job
    assert injector.called("pause worker") == T0 + 430
    clock.advance_to(T0 + 440)
    assert injector.called("kill storage") == T0 + 440
    clock.advance_to(T0 + 450)
    assert injector.called("end pause worker") == T0 + 450
    clock.advance_to(T0 + 482)
    injector.finish("flink-jobmanager")
    runner.wait(timeout_s=PATIENCE_S)
    assert sorted((r.started_at, r.ended_at, r.fault["target"]) for r in recorded) == [
        (T0 + 370, T0 + 370, "flink-jobmanager"), (T0 + 430, T0 + 450, "worker"),
        (T0 + 440, T0 + 440, "storage")]
    assert "late" not in caplog.text and not injector.overlaps


def test_faults_on_one_target_run_one_after_the_other_and_the_late_one_says_why(
        watch: LogWatch) -> None:
    clock = ManualClock()
    injector = SlowInjector(clock, slow=("flink-jobmanager",))
    recorded = Recorded()
    runner = runner_of([
        {"at_s": 10, "action": "restart", "target": "flink-jobmanager"},
        {"at_s": 20, "action": "kill", "target": "flink-jobmanager"},
        {"at_s": 20, "action": "pause", "target": "worker", "worker": 0, "duration_s": 30},
        {"at_s": 30, "action": "kill", "target": "worker", "worker": 1},
        {"at_s": 40, "action": "kill", "target": "worker"},
    ], injector, clock, recorded)
    clock.advance_to(T0 + 10)
    injector.called("restart flink-jobmanager")
    clock.advance_to(T0 + 20)
    injector.called("pause worker")
    watch.expect("fault kill flink-jobmanager at 20 s is due but waits: flink-jobmanager is "
                 "busy with restart flink-jobmanager at 10 s")
    clock.advance_to(T0 + 30)
    assert injector.called("kill worker") == T0 + 30  # another worker than the paused one
    recorded.expect("kill", "worker")  # done before the next fault on the workers is due
    clock.advance_to(T0 + 35)
    injector.finish("flink-jobmanager")  # the restart took 25 s: the kill goes now
    assert injector.called("kill flink-jobmanager") == T0 + 35
    clock.advance_to(T0 + 40)  # all workers: behind the pause of worker 0, which ends at 50
    watch.expect("fault kill worker at 40 s is due but waits: worker is busy with pause "
                 "worker 0 at 20 s")
    clock.advance_to(T0 + 50)
    runner.wait(timeout_s=PATIENCE_S)
    assert [at for call, at in injector.calls if call.endswith(" worker")] == [
        T0 + 20, T0 + 30, T0 + 50, T0 + 50]  # pause, kill 1, end pause, then kill all
    assert [call for call, _ in injector.calls][-2:] == ["end pause worker", "kill worker"]
    assert not injector.overlaps
    assert [m for m in watch.messages if "late" in m] == [
        "fault kill flink-jobmanager at 20 s started 15.0 s late: flink-jobmanager was busy with "
        "restart flink-jobmanager at 10 s",
        "fault kill worker at 40 s started 10.0 s late: worker was busy with pause worker 0 at "
        "20 s"]
    jm_kill = next(r for r in recorded
                   if (r.fault["action"], r.fault["target"]) == ("kill", "flink-jobmanager"))
    assert jm_kill.detail == ("did kill flink-jobmanager; started 15.0 s late: flink-jobmanager "
                              "was busy with restart flink-jobmanager at 10 s")


def test_close_ends_a_pause_in_progress_and_injects_nothing_more() -> None:
    clock = ManualClock()
    injector = SlowInjector(clock)
    recorded = Recorded()
    runner = runner_of([
        {"at_s": 0, "action": "pause", "target": "kafka", "duration_s": 600},
        {"at_s": 0, "action": "outage", "target": "llm", "duration_s": 600},
        {"at_s": 10, "action": "kill", "target": "kafka"},  # waits for the pause
        {"at_s": 500, "action": "kill", "target": "storage"},
    ], injector, clock, recorded)
    injector.called("pause kafka")
    injector.called("outage llm")
    clock.advance_to(T0 + 10)
    runner.close(timeout_s=PATIENCE_S)
    assert sorted(call for call, _ in injector.calls) == [
        "end outage llm", "end pause kafka", "outage llm", "pause kafka"]
    assert {(r.fault["action"], r.ended_at) for r in recorded} == {("pause", T0 + 10),
                                                                  ("outage", T0 + 10)}


def test_a_pause_whose_injection_raised_is_ended_at_once() -> None:
    clock = ManualClock()
    injector = SlowInjector(clock, fail=("worker",))
    recorded = Recorded()
    runner = runner_of([{"at_s": 5, "action": "pause", "target": "worker", "duration_s": 60}],
                       injector, clock, recorded)
    clock.advance_to(T0 + 5)
    runner.wait(timeout_s=PATIENCE_S)  # done without the clock reaching the pause's end
    assert [call for call, _ in injector.calls] == ["pause worker", "end pause worker"]
    (pause,) = recorded
    assert pause.error == "RuntimeError: signalProcess failed for worker-1"
    assert (pause.detail, pause.ended_at) == ("ended", T0 + 5)


def test_close_ends_a_pause_even_while_another_target_is_stuck() -> None:
    clock = ManualClock()
    injector = SlowInjector(clock, slow=("flink-jobmanager",))
    runner = runner_of([
        {"at_s": 0, "action": "restart", "target": "flink-jobmanager"},
        {"at_s": 1, "action": "pause", "target": "storage", "duration_s": 60},
    ], injector, clock)
    injector.called("restart flink-jobmanager")
    clock.advance_to(T0 + 1)
    injector.called("pause storage")
    runner.stop(timeout_s=0.01)  # the restart is still in progress: stop does not wait for it
    injector.called("end pause storage")
    injector.finish("flink-jobmanager")
    runner.wait(timeout_s=PATIENCE_S)


@pytest.mark.parametrize(("a", "b", "same"), [
    ({"target": "kafka"}, {"target": "kafka"}, True),
    ({"target": "kafka"}, {"target": "postgres"}, False),
    ({"target": "worker", "worker": 0}, {"target": "worker", "worker": 1}, False),
    ({"target": "worker", "worker": 0}, {"target": "worker", "worker": 0}, True),
    ({"target": "worker"}, {"target": "worker", "worker": 3}, True),
    ({"target": "flink-jobmanager"}, {"target": "flink-taskmanager"}, False),
])
def test_same_target(a: dict, b: dict, same: bool) -> None:
    a_spec, b_spec = (FaultSpec.model_validate({"at_s": 0, "action": "kill", **f}) for f in (a, b))
    assert same_target(a_spec, b_spec) is same is same_target(b_spec, a_spec)


def test_overlapping_faults_keep_one_event_each_in_the_order_they_started(tmp_path: Path) -> None:
    """The database away all along: the events reach the run's file, one id per fault, and the
    collector's merge orders them by start time although they ended in another order."""
    clock = ManualClock()
    injector = SlowInjector(clock, slow=("flink-jobmanager",))
    spill = tmp_path / "exp-1.jsonl"
    database = Database(DatabaseSettings(dsn="postgresql://h:pw@127.0.0.1:5432/harness"),
                        autocommit=True, connect=FakeServer(fail_connects=10**6).connect)
    record = record_in_events("exp-1", db=database, spill=spill, write_deadline_s=0,
                              flush_deadline_s=0, clock=clock)
    runner = FaultRunner(parse_faults([
        {"at_s": 10, "action": "restart", "target": "flink-jobmanager"},
        {"at_s": 20, "action": "pause", "target": "worker", "duration_s": 5},
        {"at_s": 30, "action": "kill", "target": "storage"},
    ]), injector, record=record, clock=clock, wait_on=clock.wait_on).start(at=T0)
    clock.advance_to(T0 + 10)
    injector.called("restart flink-jobmanager")
    clock.advance_to(T0 + 20)
    injector.called("pause worker")
    clock.advance_to(T0 + 25)
    injector.called("end pause worker")
    clock.advance_to(T0 + 30)
    injector.called("kill storage")
    injector.finish("flink-jobmanager")
    runner.close(timeout_s=PATIENCE_S)
    assert runner.done[0].fault["target"] == "worker"  # the first to end, the second to start
    rows = merge_fault_rows([], read_spilled(spill, "exp-1"))
    assert [row["attrs"]["target"] for row in rows] == ["flink-jobmanager", "worker", "storage"]
    assert [row["ts"] for row in rows] == [T0 + 10, T0 + 20, T0 + 30]
    assert sorted(row["event_id"] for row in rows) == sorted(i.event_id for i in runner.done)
