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
    order = ["validate", "register", "generate_load", "wait_until_terminal", "collect_and_report",
             "compare_with_previous"]
    for upstream, downstream in itertools.pairwise(order):
        assert downstream in {t.task_id for t in dag.get_task(upstream).get_flat_relatives(upstream=False)}, (
            upstream, downstream)
    assert dag.get_task("wait_until_terminal").mode == "reschedule"


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
    with pytest.raises(spec.SpecError) as info:
        expand_grid("demo", {"retry.cap_s": [1, -1]}, {}, "bad")
    assert info.value.field == "retry.cap_s"
