"""Experiments that always finish: long drains, restarts of Airflow's own components, runs that
overlap, runs whose drain times out. Real Airflow, real stack.

The `slow` simulator profile answers every question in about two minutes, so each run's drain
lasts at least two minutes after its load ends: longer than a poke, a triggerer heartbeat, a
scheduler restart. Loads are small (a few questions), so the machine's speed does not matter.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest

from experiments import runner
from experiments import spec as spec_module
from pipeline.storage.runs import RunRow
from pipeline.waiting import wait_until

DAG = "experiment"
SLOW = [
    "arrival.kind=constant", "arrival.rate=1", "arrival.duration_s=6", "dataset.size=6",
    "dataset.repeat_share=0", "llm.profile=slow", "llm.timeout_s=300", "warmup_s=0",
    "drain_timeout_s=600", "scoring.scorer=lexical",
]
DRAIN_S = 120.0  # the slow profile's fixed latency: every drain lasts at least this long


def slow_spec(name: str, *extra: str) -> dict[str, Any]:
    base = spec_module.load(spec_module.SPECS_DIR / "demo.yaml")
    return spec_module.apply_overrides(base, [f"name={name}", *SLOW, *extra])


def trigger(airflow, spec: dict[str, Any], run_id: str) -> str:
    airflow.wait_for_dag(DAG, timeout_s=180)
    return airflow.trigger(DAG, conf=spec_module.flatten(spec), run_id=run_id).run_id


def run_row(label: str) -> RunRow:
    row = runner.run_status(label)
    assert row is not None, f"run {label} is not registered"
    return row


def wait_for_phase(label: str, phases: set[str], timeout_s: float = 600) -> RunRow:
    def reached() -> RunRow | None:
        row = runner.run_status(label)
        return row if row is not None and (row.phase in phases or row.ended) else None

    return wait_until(reached, timeout_s, pause_s=0.5, max_pause_s=2.0,
                      what=f"run {label} never reached {phases}")


def metrics_of(label: str) -> dict[str, Any]:
    return json.loads((runner.report_dir_for(label) / "metrics.json").read_text())


def report_text(label: str) -> str:
    return (runner.report_dir_for(label) / "index.html").read_text()


def restart(stack, service: str) -> None:
    stack.supervisor.stop(service)
    stack.supervisor.start(service)


def test_three_long_drains_back_to_back_survive_scheduler_and_triggerer_restarts(
        airflow, stack, endpoints) -> None:
    """Three experiments through the REST API, each draining for more than two minutes; the
    scheduler is restarted during the second run's drain and the triggerer during the third's.
    All three succeed, each with its report, its status and a run id that names it."""
    tag = uuid.uuid4().hex[:6]
    labels = [f"drain{i}-{tag}" for i in range(3)]
    for label in labels:  # queued together: the DAG runs them one after another
        trigger(airflow, slow_spec(label.rsplit("-", 1)[0]), run_id=label)
    started = time.monotonic()
    walls: dict[str, float] = {}
    for index, label in enumerate(labels):
        row = wait_for_phase(label, {"draining"}, timeout_s=900)
        assert row.phase == "draining", (row.status, row.reason)
        if index == 1:
            restart(stack, "airflow-scheduler")
        elif index == 2:
            restart(stack, "airflow-triggerer")
        finished = airflow.wait_for_run(DAG, label, timeout_s=900)
        walls[label] = time.monotonic() - started
        states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(DAG, label)}
        assert finished.state == "success", (label, states, run_row(label).reason)
        row = run_row(label)
        assert row.status == "finished" and row.reason is None
        assert row.drained_at - row.load_finished_at >= DRAIN_S - 5
        metrics = metrics_of(label)
        assert "index.html" in {p.name for p in runner.report_dir_for(label).iterdir()}
        assert json.dumps(metrics).count("in_flight") >= 1
        assert "overlap" not in report_text(label).lower()
    print(f"three long-drain runs: {', '.join(f'{k} {v:.0f} s' for k, v in walls.items())}")


def test_two_runs_at_once_do_not_overlap(airflow, endpoints) -> None:
    """An Airflow run and a `harness run` started together: the second to ask for the pipeline
    waits until the first's questions have all drained; neither report counts the other's."""
    tag = uuid.uuid4().hex[:6]
    first, second = f"iso-a-{tag}", f"iso-b-{tag}"
    trigger(airflow, slow_spec("iso-a"), run_id=first)
    wait_for_phase(first, {"loading", "draining"}, timeout_s=600)
    errors: list[BaseException] = []

    def run_second() -> None:
        try:
            runner.run_experiment(slow_spec("iso-b"), label=second)
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=run_second)
    thread.start()
    finished = airflow.wait_for_run(DAG, first, timeout_s=900)
    thread.join(timeout=900)
    assert not errors, errors
    assert finished.state == "success"
    a, b = run_row(first), run_row(second)
    assert a.status == b.status == "finished"
    assert b.load_started_at >= a.drained_at - 10, "the second run loaded while the first drained"
    for label in (first, second):
        assert "overlap" not in report_text(label).lower(), label
    sent = {label: metrics_of(label) for label in (first, second)}
    assert all(m for m in sent.values())


def test_a_drain_that_times_out_fails_the_run_with_a_partial_report(airflow) -> None:
    label = f"timeout-{uuid.uuid4().hex[:6]}"
    spec = slow_spec("timeout", "drain_timeout_s=15")
    trigger(airflow, spec, run_id=label)
    finished = airflow.wait_for_run(DAG, label, timeout_s=600)
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(DAG, label)}
    assert finished.state == "failed"
    assert states["wait_until_terminal"] == "failed"
    assert states["collect_and_report"] == "success"  # the report is written all the same
    row = run_row(label)
    assert row.status == "failed"
    assert row.reason.startswith("drain timed out: ")
    assert row.in_flight and row.in_flight > 0
    html = report_text(label)
    assert "Partial report" in html and "drain timed out" in html
    assert (runner.report_dir_for(label) / "metrics.json").exists()


@pytest.fixture(scope="module", autouse=True)
def _simulator_back_to_default(endpoints):
    yield
    from pipeline.llm.settings import LLMSettings
    from pipeline.llm.sim.runner import SimulatorAdmin

    SimulatorAdmin(LLMSettings().base_url.removesuffix("/v1")).set_profile({"name": "healthy"})
