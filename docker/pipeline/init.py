"""One-shot init of a compose deployment (the `init` service), what `harness up` does before the
pipeline's services start (harness.stack.pipeline_prepare): wait until Kafka and PostgreSQL
answer, then create the topics of pipeline/topics.yaml (idempotent) and apply the database
migrations. Exit 0 when both are done."""

import logging
import sys

from foundation.settings import get_settings
from harness.stack import probes
from harness.stack.endpoints import Endpoints
from harness.stack.pipeline_prepare import prepare
from pipeline.kafka.settings import KafkaSettings
from pipeline.storage.settings import DatabaseSettings


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    timeout = get_settings().ready_timeout_s
    kafka = KafkaSettings().bootstrap
    dsn = DatabaseSettings().dsn.get_secret_value()
    probes.wait_until("kafka", probes.kafka(kafka), timeout)
    probes.wait_until("postgres", probes.postgres(dsn), timeout)
    prepare(Endpoints(kafka_bootstrap=kafka, db_dsn=dsn, flink_url="", airflow_url="",
                      airflow_db_url="", airflow_user="", airflow_password=""))
    print("topics and database schema ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
