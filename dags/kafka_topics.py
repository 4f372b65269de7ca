"""Create or verify every topic of the topic spec (pipeline/topics.yaml): partitions,
replication, retention and the retry tiers. Idempotent; the task log lists what it changed.

Uses the Kafka provider's admin hook (connection `kafka_default`, created by `harness up`)."""

from __future__ import annotations

from airflow.sdk import dag, task

from harness.dag_defaults import DAG_DEFAULTS


@dag(
    dag_id="kafka_topics",
    **{**DAG_DEFAULTS, "default_args": {**DAG_DEFAULTS["default_args"], "retries": 1}},
    tags=["harness", "kafka"],
    doc_md=__doc__,
)
def kafka_topics() -> None:
    @task
    def provision() -> list[str]:
        from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook

        from harness.pipeline import provision_topics

        return provision_topics(KafkaAdminClientHook(kafka_config_id="kafka_default").get_conn)

    provision()


kafka_topics()
