"""One run of an experiment spec: the load, the wait, the metrics, the report, the comparison.

Trigger it from the form (every field of the experiment spec, grouped by section; defaults from
experiments/specs/demo.yaml) or with a conf holding spec fields (`harness trigger SPEC.yaml`).
**Start from** (`base`) names a spec file of experiments/specs/ or an earlier run: the fields you
change override its values, the others keep them. Fields that apply only to another arrival kind,
backend or backoff kind may be left empty.
Give the run a Run ID (e.g. `backoff-1s`) to name its report folder; otherwise the folder is
`<name>-<time>`, and the run's note names it.

validate -> register the run -> wait until no other run's questions are in the pipeline ->
ensure the pipeline is up -> start the load (a process of its own, which outlives a restarted
scheduler) -> wait until every question is terminal (deferred to the triggerer) -> write the
report (always, partial when the run failed; it opens with the audit) -> audit (every question
sent ended in exactly one terminal state) -> compare with the previous run of the same name ->
finalize (the DAG run fails when the run did, or the audit found a lost or duplicated question). Every step is idempotent and retried; the run's
state lives in PostgreSQL. An invalid value is refused with a message naming the field."""

from __future__ import annotations

import logging

from airflow.sdk import dag, get_current_context, task

from experiments.orchestration import WaitForIdlePipeline, WaitForRun
from experiments.params import build_params, form_defaults
from harness.dag_defaults import DAG_DEFAULTS

log = logging.getLogger(__name__)


def registered_label() -> str | None:
    """The run's label once `register` has pushed it, None when the run was never registered.

    The two all_done tasks read it here rather than through a task argument: an argument whose
    upstream failed fails the task before its body runs, so a refused spec used to fail
    collect_and_report through its three retries (about 3 minutes) before the run ended."""
    return get_current_context()["ti"].xcom_pull(task_ids="register", key="label")


@dag(
    dag_id="experiment",
    **DAG_DEFAULTS,
    max_active_runs=1,
    tags=["harness", "experiment"],
    doc_md=__doc__,
    params=build_params(form_defaults()),
    render_template_as_native_obj=True,
)
def experiment() -> None:
    @task
    def validate() -> dict:
        """The spec from the form (or a conf), its base resolved. An invalid value fails the run
        at once, without retries, naming the field by title and path; the run's note says it."""
        from airflow.exceptions import AirflowFailException

        from experiments.runner import validate as validate_conf
        from experiments.spec import SpecError
        from harness.run_notes import set_note

        context = get_current_context()
        try:
            return validate_conf(context["params"])
        except SpecError as exc:
            # The run's header shows a note's first line: the first problem goes there.
            first, *more = exc.errors or [str(exc)]
            rest = "".join(f"\n- {problem}" for problem in more)
            set_note("experiment", context["dag_run"].run_id, f"Invalid spec: {first}{rest}")
            raise AirflowFailException(str(exc)) from None

    @task(multiple_outputs=True)
    def register(spec: dict) -> dict:
        from experiments.runner import label_for_dag_run
        from experiments.runner import register as register_run
        from harness.run_notes import describe_run, set_note

        dag_run = get_current_context()["dag_run"]
        label = label_for_dag_run(spec["name"], dag_run.run_id, dag_run.run_after)
        handle = register_run(spec, label, dag_run_id=dag_run.run_id).as_dict()
        set_note("experiment", dag_run.run_id, describe_run(spec, handle["report_dir"]))
        return handle

    @task
    def ensure_pipeline(spec: dict) -> str:
        from harness import pipeline

        return pipeline.ensure_pipeline(workers=spec["workers"]["count"],
                                        concurrency=spec["workers"]["concurrency"])

    @task
    def start_load(label: str) -> dict:
        from experiments.runner import start_load as start

        return start(label)

    @task(trigger_rule="all_done")
    def collect_and_report() -> str:
        from airflow.exceptions import AirflowSkipException

        from experiments.runner import finish

        label = registered_label()
        if label is None:  # the spec was refused: nothing ran, nothing to report
            raise AirflowSkipException("the run was never registered (its spec was refused)")
        return finish(label)

    @task
    def compare_with_previous(handle: dict) -> str | None:
        from experiments.runner import RunHandle
        from experiments.runner import compare_with_previous as compare

        return compare(RunHandle.from_dict(handle))

    @task
    def audit(label: str) -> dict:
        """Every question sent ended in exactly one terminal state (experiments.audit)."""
        from experiments.runner import audit_run

        return audit_run(label)

    @task(trigger_rule="all_done", retries=0)
    def finalize() -> str:
        from airflow.exceptions import AirflowFailException

        from experiments.runner import conclude, read_audit, report_dir_for
        from harness.run_notes import describe_run, set_note

        label = registered_label()
        if label is None:  # validate's note names the refused field
            raise AirflowFailException("the run was never registered: its spec was refused")
        spec = get_current_context()["ti"].xcom_pull(task_ids="validate")
        run = conclude(label)
        status = run.status if run is not None else "unknown"
        reason = run.reason if run is not None else "the run was never registered"
        dag_run = get_current_context()["dag_run"]
        set_note("experiment", dag_run.run_id,
                 describe_run(spec, str(report_dir_for(label)), status=status, reason=reason))
        if status != "finished":
            raise AirflowFailException(f"run {label} {status}: {reason}")
        audited = read_audit(label)
        if audited is not None and audited.get("verdict") == "dirty":
            raise AirflowFailException(f"run {label}: the audit found lost, duplicated or unknown "
                                       f"questions: {audited.get('reasons')}")
        return status

    spec = validate()
    handle = register(spec)
    label = handle["label"]
    idle = WaitForIdlePipeline(task_id="wait_for_idle_pipeline", run_label=label)
    ready = ensure_pipeline(spec)
    loading = start_load(label)
    drained = WaitForRun(task_id="wait_until_terminal", run_label=label)
    report = collect_and_report()
    audited = audit(label)
    compared = compare_with_previous(handle)
    done = finalize()
    handle >> idle >> ready >> loading >> drained >> report >> audited >> compared >> done


experiment()
