"""A minimal PyFlink DataStream job: read a Kafka topic through the connector, upper-case each
record, write another topic. Used by the stack's integration test.

Usage: copy_topic.py BOOTSTRAP SOURCE_TOPIC SINK_TOPIC GROUP_ID
"""

import sys

from pyflink.common import Types, WatermarkStrategy
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import (
    KafkaOffsetsInitializer,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
)


def main(bootstrap: str, source_topic: str, sink_topic: str, group_id: str) -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    source = (KafkaSource.builder()
              .set_bootstrap_servers(bootstrap)
              .set_topics(source_topic)
              .set_group_id(group_id)
              .set_starting_offsets(KafkaOffsetsInitializer.earliest())
              .set_value_only_deserializer(SimpleStringSchema())
              .build())
    sink = (KafkaSink.builder()
            .set_bootstrap_servers(bootstrap)
            .set_record_serializer(KafkaRecordSerializationSchema.builder()
                                   .set_topic(sink_topic)
                                   .set_value_serialization_schema(SimpleStringSchema())
                                   .build())
            .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
            .build())
    stream = env.from_source(source, WatermarkStrategy.no_watermarks(), "kafka-source")
    stream.map(lambda value: value.upper(), output_type=Types.STRING()).sink_to(sink)
    env.execute(f"copy {source_topic} -> {sink_topic}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
