"""The sweep DAG runs a study when its `study` param names one."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.studies.model import study_names

pytestmark = pytest.mark.unit

DAGS = Path(__file__).resolve().parents[3] / "dags"


def test_the_sweep_dag_offers_every_study() -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(str(DAGS / "sweep.py")).dags["sweep"]
    param = dag.params.get_param("study")
    assert param.value == ""
    assert param.schema["enum"] == ["", *study_names()]
    assert dag.get_task("compare_grid").trigger_rule == "all_done"
