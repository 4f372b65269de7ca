"""The long-running pipeline's lifecycle: topics, the Flink scoring job, the pipeline services.

Called by the `pipeline` and `experiment` DAGs (and `harness pipeline`). With the local stack it
starts what is missing through `harness up` (idempotent); with external services (HARNESS_EXTERNAL_*)
it only provisions topics, submits the job and checks health.
"""

from __future__ import annotations

import logging
from typing import Any

from harness.stack import probes
from harness.stack.manager import Stack

log = logging.getLogger(__name__)


def provision_topics(admin: Any | None = None) -> list[str]:
    """Create or verify every topic of the topic spec; returns one line per topic.

    ADMIN is a confluent_kafka AdminClient (the Airflow Kafka provider's hook gives one); by
    default one is made from the services' Kafka settings.
    """
    from pipeline.kafka.admin import ensure_topics
    from pipeline.kafka.clients import make_admin
    from pipeline.kafka.settings import KafkaSettings
    from pipeline.topics import load_topics

    admin = admin or make_admin(KafkaSettings())
    reports = ensure_topics(admin, load_topics())
    lines = [report.line() for report in reports]
    changed = [r for r in reports if r.action != "exists" or r.config_diff]
    log.info("topics: %d in the spec, %d changed or differing", len(reports), len(changed))
    for line in lines:
        log.info("%s", line)
    return lines


def ensure_flink_job(parallelism: int | None = None) -> str:
    """The scoring job's id: the running one, or a new one: resumed from the last savepoint
    if the job was stopped with one and no job has resumed from it since, else from the Kafka
    group's committed offsets (`ScoringJobControl.resume_point`)."""
    from flink.control import ScoringJobControl, job_config

    with ScoringJobControl() as control:
        config = job_config()
        status = control.status(config.job_name)
        if status.running and status.job_id:
            log.info("scoring job %s already %s", status.job_id, status.state)
            return status.job_id
        resume = control.resume_point(config.job_name)
        job_id = control.submit(config, parallelism=parallelism, from_savepoint=resume)
        if resume:
            log.info("scoring job submitted: %s, resumed from savepoint %s", job_id, resume)
        else:
            log.info("scoring job submitted: %s, from the committed Kafka offsets", job_id)
        return job_id


def ensure_services(workers: int | None = None, concurrency: int | None = None) -> None:
    """Start the local stack's services that are not running (no-op for running ones).

    WORKERS and CONCURRENCY size the LLM worker fleet (an experiment's `workers` section); a
    change restarts the workers (each drains its in-flight work on SIGTERM) before the run.

    With every infrastructure service external (HARNESS_EXTERNAL_*: a compose deployment,
    docs/compose.md) and no local stack, the pipeline's services are the deployment's to run
    and size (`--scale workers=N`): this only checks that they are healthy.
    """
    stack = Stack()
    if not stack.supervisor.running():
        if stack.deployed_elsewhere():
            _check_deployed_services(workers, concurrency)
            return
        raise RuntimeError("the local stack is not running: start it with `harness up`")
    resized = False
    if workers is not None and concurrency is not None:
        from harness.stack.pipeline_services import write_fleet

        resized = write_fleet(stack.layout, workers, concurrency)
        if resized:
            log.info("worker fleet: %d worker(s) x %d in flight", workers, concurrency)
    unhealthy = [s.name for s in stack.services() if s.group == "pipeline" and not s.probe().ok]
    if resized or unhealthy:
        # `up` rewrites the supervisor's configuration; it is called only when something is to
        # change, since an Airflow task calls this (and a changed Airflow configuration would
        # restart the scheduler under it: the task is then retried)
        log.info("starting or resizing the pipeline services (not healthy: %s)", unhealthy)
        stack.up()


def _check_deployed_services(workers: int | None, concurrency: int | None) -> None:
    if workers is not None:
        log.info("worker fleet asked for: %d x %s in flight; the deployment sizes it", workers,
                 concurrency)
    unhealthy = {name: result.detail for name, result in service_health().items() if not result.ok}
    if unhealthy:
        raise RuntimeError("pipeline services not healthy (run by the deployment, not the local "
                           "stack): " + "; ".join(f"{n}: {d}" for n, d in sorted(unhealthy.items())))


def ensure_pipeline(workers: int | None = None, concurrency: int | None = None) -> str:
    """Everything an experiment needs, started if missing: topics, services (the worker fleet
    sized as asked), the scoring job. Returns the scoring job's id."""
    provision_topics()
    ensure_services(workers=workers, concurrency=concurrency)
    return ensure_flink_job()


def service_health() -> dict[str, probes.ProbeResult]:
    """Each pipeline service's health (the sensors poke this). In a deployment (no local stack,
    every infrastructure service external) the services it runs, its workers as one fleet probed
    through their consumer group, as `harness status` shows them."""
    stack = Stack()
    deployed = not stack.supervisor.running() and stack.deployed_elsewhere()
    out: dict[str, probes.ProbeResult] = {}
    for service in stack.deployed_services() if deployed else stack.services():
        if service.group == "pipeline":
            out[service.name] = service.probe()
    return out


def flink_job_running() -> probes.ProbeResult:
    from flink.control import ScoringJobControl, job_config

    with ScoringJobControl() as control:
        status = control.status(job_config().job_name)
    return probes.ProbeResult(bool(status.running), f"{status.job_id}: {status.state}")


def stop(savepoint: bool = True) -> dict[str, Any]:
    """Stop the scoring job (with a savepoint by default) and the pipeline services; the
    infrastructure (Kafka, Flink cluster, PostgreSQL, Airflow) keeps running."""
    from flink.control import ScoringJobControl, job_config

    with ScoringJobControl() as control:
        result = control.stop(job_config().job_name, savepoint=savepoint)
    stopped: list[str] = []
    stack = Stack()
    if stack.supervisor.running():
        for service in stack.services():
            if service.group == "pipeline":
                stack.supervisor.stop(service.name)
                stopped.append(service.name)
    log.info("pipeline stopped: job(s) %s, savepoint %s, services %s", result.job_ids,
             result.savepoint, stopped)
    return {"jobs": result.job_ids, "savepoint": result.savepoint, "services": stopped}
