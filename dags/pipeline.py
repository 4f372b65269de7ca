"""Launch (or stop) the long-running pipeline.

start (default): provision the topics, start the LLM simulator, workers, retry relay, storage
service and event sink when they are not running, submit the Flink scoring job (or keep the one
running; a job stopped with a savepoint resumes from it), then wait until each is healthy.
stop (conf {"action": "stop"}): stop the scoring job with a savepoint and the pipeline services;
Kafka, Flink, PostgreSQL and Airflow keep running."""

from __future__ import annotations

import logging

from airflow.sdk import Param, PokeReturnValue, dag, get_current_context, task

from harness.dag_defaults import DAG_DEFAULTS

log = logging.getLogger(__name__)


@dag(
    dag_id="pipeline",
    **DAG_DEFAULTS,
    max_active_runs=1,
    tags=["harness", "pipeline"],
    doc_md=__doc__,
    params={
        "action": Param("start", type="string", enum=["start", "stop"], title="Action",
                        description="start the pipeline, or stop it"),
        "savepoint": Param(True, type="boolean", title="Savepoint on stop",
                           description="stop the scoring job with a savepoint (resumed on start)"),
    },
)
def pipeline() -> None:
    @task.branch
    def choose() -> str:
        action = get_current_context()["params"]["action"]
        return "provision_topics" if action == "start" else "stop_pipeline"

    @task
    def provision_topics() -> list[str]:
        from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook

        from harness.pipeline import provision_topics as provision

        return provision(KafkaAdminClientHook(kafka_config_id="kafka_default").get_conn)

    @task
    def start_services() -> None:
        from harness.pipeline import ensure_services

        ensure_services()

    @task
    def submit_scoring_job() -> str:
        from harness.pipeline import ensure_flink_job

        return ensure_flink_job()

    # poke mode: a wait of seconds to a few minutes holds one worker slot; a reschedule-mode
    # sensor could be failed by the executor's late success event (apache/airflow#71172)
    @task.sensor(poke_interval=5, timeout=300, mode="poke")
    def services_healthy() -> PokeReturnValue:
        from harness.pipeline import service_health

        health = service_health()
        bad = {name: r.detail for name, r in health.items() if not r.ok}
        if bad:
            log.info("unhealthy: %s", bad)
        else:
            log.info("healthy: %s", sorted(health))
        return PokeReturnValue(is_done=not bad, xcom_value=sorted(health))

    @task.sensor(poke_interval=5, timeout=300, mode="poke")
    def scoring_job_running() -> PokeReturnValue:
        from harness.pipeline import flink_job_running

        result = flink_job_running()
        log.info("scoring job: %s", result.detail)
        return PokeReturnValue(is_done=result.ok, xcom_value=result.detail)

    @task
    def stop_pipeline() -> dict:
        from harness.pipeline import stop

        return stop(savepoint=bool(get_current_context()["params"]["savepoint"]))

    started = provision_topics()
    started >> start_services() >> submit_scoring_job() >> [services_healthy(), scoring_job_running()]
    choose() >> [started, stop_pipeline()]


pipeline()
