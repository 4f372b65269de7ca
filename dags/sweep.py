"""A grid of experiments, run one after another, then one comparison report of the whole grid.

`base` names a spec of experiments/specs/; `grid` maps spec fields to lists of values, e.g.
{"retry.base_s": [0.1, 1.0], "arrival.rate": [2, 4]} runs four experiments. Each cell is a
mapped task (dynamic task mapping), one at a time; the comparison lands in
reports/compare/<name>/."""

from __future__ import annotations

import logging

from airflow.sdk import Param, dag, get_current_context, task

from experiments import spec as spec_module
from harness.dag_defaults import DAG_DEFAULTS

log = logging.getLogger(__name__)
SPEC_NAMES = sorted(p.stem for p in spec_module.SPECS_DIR.glob("*.yaml"))


@dag(
    dag_id="sweep",
    **DAG_DEFAULTS,
    max_active_runs=1,
    tags=["harness", "experiment", "sweep"],
    doc_md=__doc__,
    params={
        "name": Param("sweep", type="string", title="Sweep name", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,60}$",
                      description="names the comparison folder"),
        "base": Param("demo", type="string", enum=SPEC_NAMES, title="Base spec",
                      description="the spec every cell starts from"),
        "grid": Param({"retry.base_s": [0.1, 1.0]}, type="object", title="Grid",
                      description="spec field -> list of values; every combination is one run"),
        "overrides": Param({}, type="object", title="Overrides",
                           description="spec field -> value applied to every cell"),
    },
)
def sweep() -> None:
    @task
    def cells() -> list[dict]:
        from experiments.sweep import expand_grid

        params = get_current_context()["params"]
        return expand_grid(params["base"], params["grid"], params["overrides"], params["name"])

    @task(max_active_tis_per_dagrun=1)
    def run_cell(cell: dict) -> str:
        from experiments.runner import run_experiment

        handle = run_experiment(cell["spec"], label=cell["label"], progress=log.info)
        return handle.report_dir

    @task
    def compare_grid(report_dirs: list[str]) -> str:
        from experiments.sweep import compare_cells

        return compare_cells(list(report_dirs), get_current_context()["params"]["name"])

    compare_grid(run_cell.expand(cell=cells()))


sweep()
