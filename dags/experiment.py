"""One run of an experiment spec: the load, the wait, the metrics, the report, the comparison.

Trigger it from the form (every field of the experiment spec, grouped by section; defaults from
experiments/specs/demo.yaml) or with a conf holding spec fields (`harness trigger SPEC.yaml`).
validate -> register the run -> ensure the pipeline is up -> set the simulator's profile ->
generate the load -> wait until every question is terminal -> collect metrics and build the
report (reports/<run>/) -> compare with the previous run of the same name (reports/compare/).
Runs never overlap. An invalid value is refused with a message naming the field."""

from __future__ import annotations

import logging
import time

from airflow.sdk import PokeReturnValue, dag, get_current_context, task

from experiments import spec as spec_module
from experiments.params import build_params
from harness.dag_defaults import DAG_DEFAULTS

DEFAULT_SPEC = spec_module.load(spec_module.SPECS_DIR / "demo.yaml")


log = logging.getLogger(__name__)


@dag(
    dag_id="experiment",
    **DAG_DEFAULTS,
    max_active_runs=1,
    tags=["harness", "experiment"],
    doc_md=__doc__,
    params=build_params(DEFAULT_SPEC),
    render_template_as_native_obj=True,
)
def experiment() -> None:
    @task
    def validate() -> dict:
        from experiments.runner import validate as validate_conf

        return validate_conf(get_current_context()["params"])

    @task
    def register(spec: dict) -> dict:
        from experiments.runner import register as register_run

        return register_run(spec).as_dict()

    @task
    def ensure_pipeline(spec: dict) -> str:
        from harness import pipeline

        return pipeline.ensure_pipeline(workers=spec["workers"]["count"],
                                        concurrency=spec["workers"]["concurrency"])

    @task
    def configure_llm(spec: dict) -> dict:
        from experiments.runner import configure_llm as configure

        return configure(spec)

    @task
    def generate_load(handle: dict, spec: dict) -> dict:
        from experiments.runner import RunHandle, generate

        return generate(RunHandle.from_dict(handle), spec, progress=log.info).as_dict()

    @task.sensor(poke_interval=5, timeout=24 * 3600, mode="reschedule")
    def wait_until_terminal(handle: dict, spec: dict) -> PokeReturnValue:
        from airflow.exceptions import AirflowFailException

        from experiments.runner import RunHandle, pending

        run = RunHandle.from_dict(handle)
        left = pending(run)
        waited = time.time() - float(run.load[-1]["finished_at"])
        log.info("%d question(s) still in flight, %.0f s after the load ended", left, waited)
        if left and waited > float(spec["drain_timeout_s"]):
            raise AirflowFailException(
                f"{left} question(s) still in flight {waited:.0f} s after the load ended "
                f"(drain_timeout_s={spec['drain_timeout_s']})")
        return PokeReturnValue(is_done=left == 0, xcom_value=left)

    @task
    def collect_and_report(handle: dict, spec: dict, counters: dict) -> str:
        from experiments.runner import RunHandle
        from experiments.runner import collect_and_report as build

        return build(RunHandle.from_dict(handle), spec, counters)

    @task
    def compare_with_previous(handle: dict, report_dir: str) -> str | None:
        from experiments.runner import RunHandle
        from experiments.runner import compare_with_previous as compare

        return compare(RunHandle.from_dict(handle))

    spec = validate()
    handle = register(spec)
    ready = ensure_pipeline(spec)
    counters = configure_llm(spec)
    loaded = generate_load(handle, spec)
    ready >> counters >> loaded
    drained = wait_until_terminal(loaded, spec)
    report = collect_and_report(loaded, spec, counters)
    drained >> report
    compare_with_previous(loaded, report)


experiment()
