"""The local stack: Kafka, Flink, PostgreSQL and Airflow (plus the pipeline services) on one
machine, supervised by supervisord, with every file under the state folder."""
