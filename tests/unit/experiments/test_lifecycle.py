"""A run's lifecycle decisions (experiments.lifecycle): the drain wait, isolation, run labels,
run notes. Pure functions over a RunRow, counts and a time: no database, no clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from experiments.lifecycle import LifecycleSettings, assess_drain, blocking
from experiments.runner import label_for_dag_run
from pipeline.storage.runs import RunRow

SETTINGS = LifecycleSettings(loader_stale_s=90, loader_start_s=180, stale_activity_s=600)
T0 = 1_000_000.0


def row(**fields) -> RunRow:
    base = dict(label="demo-1", name="demo", spec={}, experiment_ids=["demo-1"],
                phase="registered", status="running", reason=None, dag_run_id=None,
                load_requested_at=None, loader_pid=None, loader_host="h", heartbeat_at=None, sim_counters=None,
                load_started_at=None, load_finished_at=None, drained_at=None, in_flight=None,
                report_dir=None, created_at=T0, updated_at=T0, finished_at=None)
    base.update(fields)
    return RunRow(**base)


class TestDrain:
    def test_waits_for_the_load_process_to_start_then_fails_when_it_never_does(self) -> None:
        # however long the steps before it took (a slow ensure_pipeline), the clock starts
        # when a step asks for the load process
        assert assess_drain(row(), None, T0 + 5_000, 600, SETTINGS).outcome == "wait"
        run = row(load_requested_at=T0 + 4_000)
        assert assess_drain(run, None, T0 + 4_010, 600, SETTINGS).outcome == "wait"
        late = assess_drain(run, None, T0 + 4_181, 600, SETTINGS)
        assert late.outcome == "failed" and "never started" in late.message

    def test_a_live_load_process_is_waited_for_whatever_the_load_lasts(self) -> None:
        run = row(phase="loading", loader_pid=42, heartbeat_at=T0 + 3_000)
        verdict = assess_drain(run, None, T0 + 3_050, 600, SETTINGS)
        assert verdict.outcome == "wait" and "sending the load" in verdict.message

    def test_a_dead_load_process_fails_the_run_naming_it(self) -> None:
        run = row(phase="loading", loader_pid=42, heartbeat_at=T0)
        verdict = assess_drain(run, None, T0 + 91, 600, SETTINGS)
        assert verdict.outcome == "failed"
        assert "pid 42" in verdict.message and "'loading'" in verdict.message

    def test_draining_until_nothing_is_pending(self) -> None:
        run = row(phase="draining", loader_pid=42, load_finished_at=T0)
        assert assess_drain(run, 7, T0 + 100, 600, SETTINGS).outcome == "wait"
        done = assess_drain(run, 0, T0 + 100, 600, SETTINGS)
        assert done.outcome == "drained" and done.pending == 0

    def test_a_long_drain_is_fine_until_its_timeout(self) -> None:
        run = row(phase="draining", loader_pid=42, load_finished_at=T0)
        assert assess_drain(run, 3, T0 + 599, 600, SETTINGS).outcome == "wait"
        late = assess_drain(run, 3, T0 + 601, 600, SETTINGS)
        assert late.outcome == "failed" and late.pending == 3
        assert late.message.startswith("drain timed out: 3 question(s) still in flight 601 s")

    def test_an_ended_run_reports_its_ending(self) -> None:
        failed = row(status="failed", reason="the load failed: boom", in_flight=5)
        assert assess_drain(failed, None, T0, 600).as_dict() == {
            "outcome": "failed", "message": "the load failed: boom", "pending": 5}
        assert assess_drain(row(status="finished"), None, T0, 600).outcome == "drained"


class TestIsolation:
    def test_a_run_sending_its_load_blocks_while_its_load_process_lives(self) -> None:
        loading = row(label="other", phase="loading", loader_pid=1, heartbeat_at=T0 - 10)
        busy = blocking([loading], {}, {}, T0, SETTINGS)
        assert [b.describe() for b in busy] == ["other (loading)"]
        dead = replace(loading, heartbeat_at=T0 - 91)  # e.g. ended by `harness down`
        assert blocking([dead], {}, {}, T0, SETTINGS) == []

    def test_a_draining_run_blocks_while_its_questions_move(self) -> None:
        other = row(label="other", phase="draining", loader_pid=1)
        busy = blocking([other], {"other": 12}, {"other": T0 - 5}, T0, SETTINGS)
        assert [b.describe() for b in busy] == ["other (running, 12 question(s) in flight)"]
        assert blocking([other], {"other": 0}, {"other": T0}, T0, SETTINGS) == []
        # nobody waits for it any more and its questions are stuck: it holds nothing
        assert blocking([other], {"other": 12}, {"other": T0 - 601}, T0, SETTINGS) == []

    def test_waiting_runs_do_not_block_each_other(self) -> None:
        assert blocking([row(label="other", phase="waiting")], {}, {}, T0, SETTINGS) == []

    def test_a_failed_run_still_draining_blocks_until_its_questions_stop_moving(self) -> None:
        failed = row(label="old", status="failed", phase="draining", finished_at=T0)
        assert blocking([failed], {"old": 40}, {"old": T0 - 30}, T0, SETTINGS)
        assert blocking([failed], {"old": 40}, {"old": T0 - 601}, T0, SETTINGS) == []
        assert blocking([failed], {"old": 0}, {"old": T0}, T0, SETTINGS) == []


class TestLabels:
    WHEN = datetime(2026, 12, 1, 19, 40, 58, tzinfo=UTC)

    def test_a_named_run_id_is_the_label(self) -> None:
        assert label_for_dag_run("demo", "backoff-1s", self.WHEN) == "backoff-1s"
        assert label_for_dag_run("demo", "a b/c", self.WHEN) == "a-b-c"

    @pytest.mark.parametrize("run_id", ["manual__2026-12-01T19:40:58+00:00",
                                        "scheduled__2026-12-01T00:00:00+00:00"])
    def test_airflow_run_ids_give_the_name_and_the_run_time(self, run_id: str) -> None:
        assert label_for_dag_run("demo", run_id, self.WHEN) == "demo-20261201-194058"


def test_the_run_note_names_what_was_tested() -> None:
    from harness.run_notes import NOTE_LIMIT, describe_run

    spec = {"name": "demo", "retry": {"kind": "exponential", "jitter": "full", "base_s": 0.5,
                                      "cap_s": 8},
            "llm": {"profile": "flaky"}, "arrival": {"kind": "poisson", "rate": 4,
                                                     "duration_s": 45}}
    note = describe_run(spec, "reports/demo-1", status="failed", reason="drain timed out")
    assert "exponential + full jitter, base 0.5 s, cap 8 s" in note
    assert "profile flaky" in note and "poisson 4/s for 45 s" in note
    assert "reports/demo-1/index.html" in note and "**failed**: drain timed out" in note
    assert len(describe_run({**spec, "name": "x" * 2000}, "r")) <= NOTE_LIMIT


def test_a_row_is_read_from_a_mapping() -> None:
    run = row()
    assert RunRow.from_row({**run.__dict__, "extra": 1}) == run
    assert replace(run, status="failed").ended and not run.ended
