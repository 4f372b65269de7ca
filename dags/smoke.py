"""Smoke test of the stack from Airflow: the harness database and the Kafka broker, through the
connections `harness up` creates. Triggered with a conf ({"message": "..."}); the message is
written to PostgreSQL and produced to Kafka, and both are read back."""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from harness.dag_defaults import DAG_DEFAULTS


@dag(
    dag_id="smoke",
    **DAG_DEFAULTS,
    tags=["harness", "smoke"],
    doc_md=__doc__,
    params={"message": Param("hello", type="string", title="Message",
                             description="written to PostgreSQL and Kafka, then read back")},
)
def smoke() -> None:
    @task
    def postgres_round_trip() -> str:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        message = get_current_context()["params"]["message"]
        hook = PostgresHook(postgres_conn_id="harness_db")
        hook.run("CREATE TABLE IF NOT EXISTS smoke_messages (id serial PRIMARY KEY, message text, "
                 "at timestamptz DEFAULT now())")
        hook.run("INSERT INTO smoke_messages (message) VALUES (%s)", parameters=(message,))
        row = hook.get_first("SELECT message FROM smoke_messages ORDER BY id DESC LIMIT 1")
        if row[0] != message:
            raise ValueError(f"read back {row[0]!r}, wrote {message!r}")
        return str(message)

    @task
    def kafka_round_trip(message: str) -> int:
        from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook
        from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook

        topic = "harness.smoke"
        KafkaAdminClientHook(kafka_config_id="kafka_default").create_topic(
            topics=[(topic, 1, 1)])
        producer = KafkaProducerHook(kafka_config_id="kafka_default").get_producer()
        producer.produce(topic, value=message.encode())
        left = producer.flush(10)
        if left:
            raise RuntimeError(f"{left} message(s) not delivered to {topic}")
        return 1

    kafka_round_trip(postgres_round_trip())


smoke()
