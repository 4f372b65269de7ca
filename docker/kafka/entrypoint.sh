#!/bin/bash
# A single-node KRaft broker+controller, configured as harness/stack/configs.py configures the
# local stack's (auto-created topics off: topics come from pipeline/topics.yaml), for a compose
# network: clients inside it use PLAINTEXT kafka:9092; clients on the host the HOST listener,
# published on the host and advertised as KAFKA_HOST_ADVERTISED (host:port as seen from there).
# The storage is formatted once (a formatted volume holds meta.properties).
set -euo pipefail
: "${KAFKA_HOST_ADVERTISED:=127.0.0.1:9092}"
: "${KAFKA_HEAP:=512m}"
: "${KAFKA_ADVERTISED_HOST:=kafka}"
data=/var/lib/kafka/data
conf=/etc/kafka
cat >"$conf/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=${KAFKA_ADVERTISED_HOST}:9093
listeners=PLAINTEXT://0.0.0.0:9092,HOST://0.0.0.0:19092,CONTROLLER://0.0.0.0:9093
advertised.listeners=PLAINTEXT://${KAFKA_ADVERTISED_HOST}:9092,HOST://${KAFKA_HOST_ADVERTISED},CONTROLLER://${KAFKA_ADVERTISED_HOST}:9093
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,HOST:PLAINTEXT
log.dirs=${data}
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.segment.bytes=67108864
log.cleaner.dedupe.buffer.size=16777216
PROPS
cat >"$conf/log4j2.properties" <<'LOG'
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
LOG
# the heap grows under load and is given back at idle (harness.stack.configs.JVM_HEAP_GIVE_BACK)
java_opts=(-XX:+UseG1GC -XX:G1PeriodicGCInterval=15000 -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30
           -Djava.awt.headless=true "-Dlog4j2.configurationFile=$conf/log4j2.properties"
           -cp '/opt/kafka/libs/*')
if [ ! -f "$data/meta.properties" ]; then
  # a cluster id: 16 random bytes, URL-safe base64 unpadded, never starting with "-"
  # (harness.stack.configs.kafka_cluster_id says why)
  while :; do
    cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [ "${cluster_id:0:1}" != "-" ] && break
  done
  java -Xmx256m "${java_opts[@]}" kafka.tools.StorageTool format --standalone \
    -t "$cluster_id" -c "$conf/server.properties"
fi
exec java -Xms64m "-Xmx$KAFKA_HEAP" "${java_opts[@]}" kafka.Kafka "$conf/server.properties"
