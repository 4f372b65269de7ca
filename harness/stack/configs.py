"""Configuration files of the local services, rendered into the state folder."""

from __future__ import annotations

import base64
import os
import shutil
import uuid
from pathlib import Path

# SYSTEM_PATH: configs never depend on the caller's PATH
from foundation.layout import SYSTEM_PATH, Layout
from foundation.settings import StackSettings


def kafka_server_properties(settings: StackSettings, layout: Layout) -> Path:
    """A single-node KRaft broker+controller listening on `bind_host` (loopback unless opened),
    advertised to clients and to itself at `host`."""
    host, bind = settings.host, settings.bind_host
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"{host}:{settings.kafka_controller_port}",
        "listeners": f"PLAINTEXT://{bind}:{settings.kafka_port},CONTROLLER://{bind}:{settings.kafka_controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{settings.kafka_port},CONTROLLER://{host}:{settings.kafka_controller_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(layout.kafka_data),
        "num.partitions": "3",
        # Topics come from the topic spec; a typo in a topic name must fail, not create a topic.
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.retention.hours": "24",
        "log.segment.bytes": str(64 * 1024 * 1024),
        # The log cleaner (compacted topics: __consumer_offsets) keeps its offset map on the heap,
        # 128 MiB by default: 150 MB of the broker's 175 MB live heap after a load. 16 MiB holds
        # about 700,000 keys per cleaning, far more than the stack's consumer groups write.
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
    }
    path = layout.conf / "kafka" / "server.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    log4j = path.parent / "log4j2.properties"
    log4j.write_text(
        "status = warn\n"
        "appender.console.type = Console\n"
        "appender.console.name = STDOUT\n"
        "appender.console.layout.type = PatternLayout\n"
        "appender.console.layout.pattern = [%d] %p %m (%c)%n\n"
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.stdout.ref = STDOUT\n"
        "logger.kafka.name = kafka\nlogger.kafka.level = INFO\n"
        "logger.state.name = state.change.logger\nlogger.state.level = WARN\n"
        "logger.request.name = kafka.request.logger\nlogger.request.level = WARN\n"
    )
    return path


def kafka_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding.

    Never one that starts with "-" (1 in 64 do): the storage tool would read it as an option and
    fail with "argument --cluster-id/-t: expected one argument". Kafka's own Uuid.randomUuid()
    skips those for the same reason."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def java_binary() -> str:
    return shutil.which("java", path=SYSTEM_PATH) or shutil.which("java") or "java"


# The stack's JVMs (Kafka, the Flink JobManager and TaskManager) start with a small heap, grow it
# under load up to their maximum, and give it back when the load is gone: every 15 s without a
# collection G1 runs a periodic one (JEP 346) and uncommits the free regions above 30 % free
# (MaxHeapFreeRatio; 10 % below which it grows). With -Xms equal to -Xmx, as Kafka's scripts and
# Flink set it, a heap once touched stays resident: after a 12,000-question load the three JVMs
# held 1.5 GB RSS at idle, of which about 0.6 GB free heap (bench/idle_memory.py).
JVM_HEAP_GIVE_BACK = ("-XX:+UseG1GC", "-XX:G1PeriodicGCInterval=15000",
                      "-XX:MinHeapFreeRatio=10", "-XX:MaxHeapFreeRatio=30")
JVM_INITIAL_HEAP = "64m"
# The JobManager only coordinates (job submission, checkpoints, the REST API the harness polls):
# no record passes through it, so the C1 compiler alone serves it, without C2's compiler threads
# and code cache (bench/idle_memory.py). The TaskManager and Kafka carry every record: both keep C2.
JVM_COORDINATOR_ONLY = ("-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=48m")


def kafka_java(layout: Layout, main_class: str, *args: str, heap: str = "512m") -> list[str]:
    java = java_binary()
    return [
        java, f"-Xms{min_size(JVM_INITIAL_HEAP, heap)}", f"-Xmx{heap}", *JVM_HEAP_GIVE_BACK,
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={layout.conf / 'kafka' / 'log4j2.properties'}",
        "-cp", f"{layout.kafka_jars}/*", main_class, *args,
    ]


def min_size(a: str, b: str) -> str:
    """The smaller of two JVM sizes such as "64m" and "1g" (k, m, g suffixes or bytes)."""
    return min(a, b, key=jvm_bytes)


def jvm_bytes(size: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    size = size.strip().lower()
    if size[-1:] in units:
        return int(size[:-1]) * units[size[-1]]
    return int(size)


def flink_conf(settings: StackSettings, layout: Layout) -> Path:
    """Our FLINK_CONF_DIR and FLINK_LIB_DIR: the wheel's conf and lib plus our settings and jars.

    lib/ holds links to the wheel's jars, its opt/flink-python jar and the Kafka connector, so every
    job on the cluster can use the connector. The flink-python jar is bootstrap's patched copy
    when it exists (harness/stack/beam_loopback.py: Beam's gRPC servers bind loopback), the wheel's
    own otherwise (with a warning). The Python workers run the Flink environment's interpreter,
    never whatever `python` is on PATH.
    """
    from harness.stack import beam_loopback

    pyflink = layout.pyflink_dir()
    conf, lib = layout.flink_conf, layout.flink_lib
    conf.mkdir(parents=True, exist_ok=True)
    for name in os.listdir(pyflink / "conf"):
        if name != "config.yaml":
            shutil.copy2(pyflink / "conf" / name, conf / name)
    if lib.exists():
        shutil.rmtree(lib)
    lib.mkdir(parents=True)
    python_jars = [beam_loopback.lib_jar(jar, layout)
                   for jar in sorted((pyflink / "opt").glob("flink-python*.jar"))]
    jars = [*sorted((pyflink / "lib").glob("*.jar")), *python_jars,
            *sorted(layout.flink_connector_jars.glob("*.jar"))]
    for jar in jars:
        (lib / jar.name).symlink_to(jar)
    python = str(layout.flink_venv / "bin" / "python")
    # `host` is where the processes find each other; `bind` is the interface they listen on. The
    # bind keys cover the JobManager's RPC, blob and metrics servers and the TaskManager's RPC,
    # data and metrics servers. No option reaches PyFlink's Beam gRPC servers (inside the
    # TaskManager, while a Python job runs): the patched flink-python jar above binds them to
    # loopback, whatever `bind` is (the Python workers they serve are local processes).
    host, bind = settings.host, settings.bind_host
    java_opts = (pyflink / "conf" / "config.yaml").read_text()
    opens = ""
    for line in java_opts.splitlines():
        if line.strip().startswith("all: --add-exports"):
            opens = line.split("all:", 1)[1].strip()
    # Flink's scripts pass -Xms equal to -Xmx; the -Xms here comes later on the command line
    # and wins (see JVM_HEAP_GIVE_BACK).
    give_back = " ".join((f"-Xms{JVM_INITIAL_HEAP}", *JVM_HEAP_GIVE_BACK))
    config = f"""\
# Generated by `harness up` (harness/stack/configs.py); edits are overwritten.
env:
  java:
    opts:
      all: {opens}
      jobmanager: {give_back} {" ".join(JVM_COORDINATOR_ONLY)}
      taskmanager: {give_back}
  log:
    dir: {layout.flink_home / 'log'}
  pid:
    dir: {layout.run}
io:
  tmp:
    dirs: {layout.flink_home / 'tmp'}
jobmanager:
  bind-host: {bind}
  rpc:
    address: {host}
    port: {settings.flink_rpc_port}
  memory:
    process:
      size: {settings.flink_jobmanager_memory}
  execution:
    failover-strategy: region
taskmanager:
  bind-host: {bind}
  host: {host}
  numberOfTaskSlots: {settings.flink_taskmanager_slots}
  memory:
    process:
      size: {settings.flink_taskmanager_memory}
    # Network buffers are allocated and zeroed at start, resident for good: 10 % of Flink memory
    # (108 MB of 1536m) by default. The scoring job's few channels need a small part of 32 MiB.
    network:
      min: 32m
      max: 32m
parallelism:
  default: 1
rest:
  address: {host}
  bind-address: {bind}
  port: {settings.flink_rest_port}
blob:
  server:
    port: {settings.flink_blob_port}
execution:
  checkpointing:
    dir: file://{layout.flink_checkpoints}
    savepoint-dir: file://{layout.flink_savepoints}
state:
  backend:
    type: hashmap
restart-strategy:
  type: exponential-delay
python:
  executable: {python}
  client:
    executable: {python}
"""
    (conf / "config.yaml").write_text(config)
    return conf


def flink_env(layout: Layout) -> dict[str, str]:
    """Environment of every Flink process and of `flink run` (:meth:`Layout.flink_env`)."""
    return layout.flink_env()
