"""A grid of experiments, one `experiment` DAG run per cell, then one comparison of the grid.

`base` names a spec of experiments/specs/; `grid` maps spec fields to lists of values, e.g.
{"retry.base_s": [0.1, 1.0], "arrival.rate": [2, 4]} runs four experiments. Each cell is a run of
the `experiment` DAG of its own (run id `<sweep>.<n>-<time>`, its own report and status), so a
cell gets every guarantee an experiment has (isolation, retries, a report even when it fails), and
a failed cell loses nothing of the others. The cells run one at a time (the experiment DAG's
`max_active_runs=1`); the sweep waits for them on the triggerer, then compares every cell that
finished in reports/compare/<name>/.

With `study` set (a study of experiments/studies/, docs/experiments.md#studies), the sweep runs
that study instead (name, base, grid and overrides are then ignored): one `experiment` run per
cell x repeat still missing (labels `<study>.<cell>.r<k>`, so a finished repeat is not run again),
then the study's report in reports/studies/<study>/ with a verdict per claim. A repeat whose run
failed is run again by `harness study` (under the next attempt label), not by the DAG."""

from __future__ import annotations

import logging

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, get_current_context, task

from experiments import spec as spec_module
from experiments.orchestration import WaitForDagRuns
from experiments.studies.model import study_names
from harness.dag_defaults import DAG_DEFAULTS

log = logging.getLogger(__name__)
SPEC_NAMES = sorted(p.stem for p in spec_module.SPECS_DIR.glob("*.yaml"))
STUDY_NAMES = study_names()


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
        "study": Param("", type="string", enum=["", *STUDY_NAMES], title="Study",
                       description="a study of experiments/studies/ to run instead of the grid "
                       "(its cells x repeats, then a verdict per claim in reports/studies/)"),
    },
)
def sweep() -> None:
    @task
    def cells() -> list[dict]:
        """Every cell, validated up front; labels fixed by the sweep run's time, so a retry
        triggers nothing twice."""
        from experiments.sweep import expand_grid

        context = get_current_context()
        params = context["params"]
        if params.get("study"):
            from experiments.studies.model import load_study
            from experiments.studies.runner import StudyRunner

            planned = StudyRunner().plan(load_study(params["study"]))
            return [{"trigger_run_id": label, "conf": spec_module.flatten(cell.repeat_spec(k))}
                    for cell, k, label in planned]
        expanded = expand_grid(params["base"], params["grid"], params["overrides"],
                               params["name"], when=context["dag_run"].run_after)
        return [{"trigger_run_id": cell["label"], "conf": spec_module.flatten(cell["spec"])}
                for cell in expanded]

    @task
    def labels(cells: list[dict]) -> list[str]:
        return [cell["trigger_run_id"] for cell in cells]

    @task(trigger_rule="all_done")
    def compare_grid(labels: list[str]) -> str | None:
        from experiments.sweep import compare_labels

        params = get_current_context()["params"]
        if params.get("study"):
            from experiments.report import build_index
            from experiments.report.settings import ReportSettings
            from experiments.studies.model import load_study
            from experiments.studies.runner import StudyRunner

            _, html = StudyRunner(run=None).run_study(load_study(params["study"]))
            build_index(ReportSettings().reports_root)  # which lists the study from now on
            return str(html.parent)
        return compare_labels(list(labels), params["name"])

    grid = cells()
    names = labels(grid)
    triggered = TriggerDagRunOperator.partial(
        task_id="trigger_cell", trigger_dag_id="experiment", wait_for_completion=False,
        skip_when_already_exists=True,
    ).expand_kwargs(grid)
    waited = WaitForDagRuns(task_id="wait_for_cells", dag_id="experiment", run_ids=names)
    triggered >> waited
    waited >> compare_grid(names)


sweep()
