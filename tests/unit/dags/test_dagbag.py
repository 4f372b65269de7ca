"""Every DAG of dags/ imports, and has tags, docs and an owner; the experiment form is the spec."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[3] / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(DAGS))


def test_every_dag_imports(dagbag):
    assert dagbag.import_errors == {}
    assert {"smoke", "kafka_topics", "pipeline", "experiment", "sweep"} <= set(dagbag.dags)


def test_every_dag_has_tags_docs_and_owner(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md) > 40, dag_id
        assert dag.owner == "harness", dag_id


def test_experiment_runs_never_overlap(dagbag):
    assert dagbag.dags["experiment"].max_active_runs == 1
    assert dagbag.dags["sweep"].max_active_runs == 1


def test_experiment_form_is_the_spec(dagbag):
    from experiments import spec

    params = dagbag.dags["experiment"].params
    assert set(params.keys()) == set(spec.flat_properties())
    assert params.get_param("retry_base_s").schema["minimum"] == 0
    assert params.get_param("llm_profile").schema["enum"][:2] == ["healthy", "instant"]
    assert params.get_param("retry_base_s").schema["section"] == "Retry policy"


def test_experiment_task_order(dagbag):
    dag = dagbag.dags["experiment"]
    order = ["validate", "register", "wait_for_idle_pipeline", "ensure_pipeline", "start_load",
             "wait_until_terminal", "collect_and_report", "audit", "compare_with_previous",
             "finalize"]
    for upstream, downstream in itertools.pairwise(order):
        assert downstream in {t.task_id for t in dag.get_task(upstream).get_flat_relatives(upstream=False)}, (
            upstream, downstream)


def test_experiment_waits_are_deferrable_and_every_task_retries(dagbag):
    """No reschedule-mode sensor (apache/airflow#71172 fails them); the waits defer to the
    triggerer; a task killed by a restart is retried; the report and the verdict run whatever
    happened before them."""
    from experiments.orchestration import RunTrigger, WaitForIdlePipeline, WaitForRun

    dag = dagbag.dags["experiment"]
    assert isinstance(dag.get_task("wait_for_idle_pipeline"), WaitForIdlePipeline)
    assert isinstance(dag.get_task("wait_until_terminal"), WaitForRun)
    for task in dag.tasks:
        assert getattr(task, "mode", "poke") != "reschedule", task.task_id
        if task.task_id != "finalize":
            assert task.retries >= 2, task.task_id
    assert dag.get_task("collect_and_report").trigger_rule == "all_done"
    assert dag.get_task("finalize").trigger_rule == "all_done"
    trigger = RunTrigger("demo-1", "drained", deadline=123.0, poll_interval_s=2.0)
    path, kwargs = trigger.serialize()
    assert path == "experiments.orchestration.RunTrigger"
    assert RunTrigger(**kwargs).serialize() == (path, kwargs)  # the triggerer re-creates it


def test_sweep_triggers_one_experiment_run_per_cell_and_waits_deferred(dagbag):
    from experiments.orchestration import WaitForDagRuns

    dag = dagbag.dags["sweep"]
    trigger = dag.get_task("trigger_cell")
    assert trigger.partial_kwargs.get("trigger_dag_id", getattr(trigger, "trigger_dag_id", None)) \
        in (None, "experiment")
    assert isinstance(dag.get_task("wait_for_cells"), WaitForDagRuns)
    assert dag.get_task("compare_grid").trigger_rule == "all_done"


def test_sweep_grid_expands_and_validates_every_cell():
    from experiments import spec
    from experiments.sweep import expand_grid

    cells = expand_grid("demo", {"retry.base_s": [0.1, 1.0], "arrival.rate": [2, 4]},
                        {"arrival.duration_s": 10}, "grid")
    assert len(cells) == 4
    assert {(c["spec"]["retry"]["base_s"], c["spec"]["arrival"]["rate"]) for c in cells} == {
        (0.1, 2), (0.1, 4), (1.0, 2), (1.0, 4)}
    assert all(c["spec"]["arrival"]["duration_s"] == 10 for c in cells)
    assert len({c["label"] for c in cells}) == 4
    # the labels depend on the sweep run's time only: a retried task makes the same ones
    from datetime import UTC, datetime

    when = datetime(2026, 12, 1, 19, 40, 58, tzinfo=UTC)
    again = [expand_grid("demo", {"retry.base_s": [0.1, 1.0]}, {}, "g", when=when)
             for _ in range(2)]
    assert [c["label"] for c in again[0]] == [c["label"] for c in again[1]]
    assert again[0][0]["label"] == "g.1-20261201-194058"
    with pytest.raises(spec.SpecError) as info:
        expand_grid("demo", {"retry.cap_s": [1, -1]}, {}, "bad")
    assert info.value.field == "retry.cap_s"
