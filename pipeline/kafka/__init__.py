"""Kafka plumbing shared by every service: settings, client factories, offset tracking, the
batch consume loop, an asyncio producer, produce with backpressure (``produce``), the one commit
path (``commit``), topic administration, signals and a health endpoint.

    from pipeline.kafka import KafkaSettings, make_producer, make_consumer
    producer = make_producer(KafkaSettings(), client_id="storage")
"""

from pipeline.kafka.clients import consumer_config, make_consumer, make_producer, producer_config
from pipeline.kafka.settings import KafkaSettings, ServiceEnvSettings, services_env_file

__all__ = [
    "KafkaSettings",
    "ServiceEnvSettings",
    "consumer_config",
    "make_consumer",
    "make_producer",
    "producer_config",
    "services_env_file",
]
