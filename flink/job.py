"""The scoring job (docs/architecture.md#scoring-and-regeneration): qa.answers -> qa.results | qa.questions |
qa.dlq, plus qa.events. Wiring only: the logic is in flink.processor, flink.routing,
flink.windows and flink.batching, which are plain Python with their own tests.

Submitted by `harness flink submit` (flink/control.py) as::

    flink run --python flink/job.py --config '<JobConfig JSON>'

Shape::

    Kafka source (qa.answers: key, raw value, partition, offset)
      -> async score-and-route (micro-batched scoring, one Outcome per record)
           -> rows (output role, key, value)  ----------------------------> Kafka sinks, by role
           -> per-experiment tumbling processing-time window -> flink_window events --^

Connectors. The Kafka source and sinks are declared with the Kafka connector's table factory
(SQL DDL) and joined to the DataStream part with ``to_data_stream`` / ``from_data_stream``.
Underneath they are the same KafkaSource and KafkaSink (same jar, same offsets-in-checkpoint
and flush-on-checkpoint behaviour), but the table factory gives what the DataStream builders do
not in Python: the record key on both sides (``key.format = raw``: records are keyed by
question_id, events by experiment_id, as the topic spec says) and the source partition and
offset (metadata columns) for dead letters. Values are raw bytes, so a record that is not UTF-8
or not JSON still reaches the job and is dead-lettered instead of failing the source.

Source position. Group ``group_id``, starting from the group's committed offsets, else the
earliest. Offsets are committed on each completed checkpoint, so a job submitted afresh (no
savepoint) continues where the last one's last checkpoint was; a savepoint restores exactly.

Delivery guarantee: AT_LEAST_ONCE sinks, on purpose. With checkpointing on, an at-least-once
KafkaSink flushes its producer before each checkpoint completes, so nothing acknowledged by a
checkpoint is lost; after a failure the records since the last checkpoint are replayed and may
be written twice. Every consumer downstream tolerates that: the storage service upserts results
and dead letters on (experiment_id, question_id), scored/window events carry stable event ids
(derived from the record, not random), and a question sent back twice costs one extra LLM call
at worst in a crash, never a wrong result. EXACTLY_ONCE would need every consumer to read with
isolation.level=read_committed (they use the default read_uncommitted, and would otherwise see
aborted records), would hold every output back until the next checkpoint (adding up to a
checkpoint interval of latency to every round of the feedback loop), and needs transaction
timeouts above the longest possible outage (lingering transactions block read_committed
consumers). Producers are idempotent (acks=all), so retries inside Kafka add no duplicates.

Checkpointing every ``checkpoint_interval_s`` (exactly-once mode for the job's own state: the
windows' accumulators are consistent with the source offsets) to the cluster's checkpoint dir
in the state folder. The scoring operator is Flink's async operator: it completes every record
in flight before a barrier passes, so the micro-batcher never holds a record across a
checkpoint. It has no per-record timeout by default (``score_timeout_s = 0``): PyFlink starts a
timer thread per record for one, which cut the lexical job's throughput by 2.5x in
bench/bench_flink_job.py; a scorer that hangs shows instead as a checkpoint that times out,
which fails and restarts the job.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from pyflink.common import Configuration, Row, Time, Types
from pyflink.datastream import (
    AsyncDataStream,
    CheckpointingMode,
    RuntimeContext,
    StreamExecutionEnvironment,
)
from pyflink.datastream.functions import (
    AggregateFunction,
    AsyncFunction,
    ProcessWindowFunction,
)
from pyflink.datastream.window import TumblingProcessingTimeWindows
from pyflink.table import StreamTableEnvironment

from flink.batching import MicroBatcher
from flink.job_config import JobConfig
from flink.processor import AnswerProcessor, SourceRecord
from flink.routing import Decision, Outcome
from flink.scoring.threads import share_cores
from flink.windows import WindowStats, window_event

log = logging.getLogger("flink.job")

# The rows between the scoring operator and the sinks. The primary record of each input
# (results / questions / dlq) also carries experiment_id, decision and score for the windows;
# event rows leave them null.
ROUTED_FIELDS = ["role", "k", "v", "experiment_id", "decision", "score"]
ROUTED_TYPE = Types.ROW_NAMED(
    ROUTED_FIELDS,
    [
        Types.STRING(),
        Types.STRING(),
        Types.PRIMITIVE_ARRAY(Types.BYTE()),
        Types.STRING(),
        Types.STRING(),
        Types.DOUBLE(),
    ],
)
ROLES = ("results", "questions", "dlq", "events")


def outcome_rows(outcome: Outcome) -> list[Row]:
    rows = []
    for i, record in enumerate(outcome.records):
        primary = i == 0
        rows.append(
            Row(
                record.output.value,
                record.key,
                record.value,
                outcome.experiment_id if primary else None,
                outcome.decision.value if primary else None,
                outcome.score if primary else None,
            )
        )
    return rows


class ScoreAndRoute(AsyncFunction):
    """Decodes, scores (micro-batched across the records in flight) and routes each record."""

    def __init__(self, config: JobConfig) -> None:
        self._config_json = config.model_dump_json()

    def open(self, runtime_context: RuntimeContext) -> None:
        config = JobConfig.from_json(self._config_json)
        # scorers with threads=0 take this worker's share of the machine's cores
        share_cores(runtime_context.get_number_of_parallel_subtasks())
        self._processor = AnswerProcessor(
            source_topic=config.topics.answers,
            defaults=config.defaults,
            scorer_params=config.scorer_params,
        )
        self._processor.load()
        self._batcher: MicroBatcher[SourceRecord, Outcome] = MicroBatcher(
            self._processor.process, max_batch=config.max_batch
        )
        group = runtime_context.get_metrics_group()
        self._answers = group.counter("answers_in")
        group.gauge("batch_mean_size_x100", lambda: int(self._batcher.stats.mean_size * 100))
        group.gauge("batch_largest", lambda: self._batcher.stats.largest)

    async def async_invoke(self, value: Row) -> list[Row]:
        self._answers.inc()
        record = SourceRecord(
            value=None if value[1] is None else bytes(value[1]),
            key=None if value[0] is None else bytes(value[0]),
            partition=value[2],
            offset=value[3],
        )
        return outcome_rows(await self._batcher.submit(record))

    def close(self) -> None:
        batcher = getattr(self, "_batcher", None)
        if batcher is not None:
            log.info(
                "scoring batches: %d, mean size %.1f, largest %d",
                batcher.stats.batches,
                batcher.stats.mean_size,
                batcher.stats.largest,
            )
            batcher.close()


class AggregateWindow(AggregateFunction):
    def create_accumulator(self) -> WindowStats:
        return WindowStats()

    def add(self, value: Row, accumulator: WindowStats) -> WindowStats:
        return accumulator.add(Decision(value[4]), value[5])

    def get_result(self, accumulator: WindowStats) -> WindowStats:
        return accumulator

    def merge(self, a: WindowStats, b: WindowStats) -> WindowStats:
        return a.merge(b)


class EmitWindowEvent(ProcessWindowFunction):
    def process(self, key: str, context: ProcessWindowFunction.Context, elements: Any):
        window = context.window()
        now = context.current_processing_time() / 1000.0
        for stats in elements:
            event = window_event(
                key, stats, start=window.start / 1000.0, end=window.end / 1000.0, now=now
            )
            yield Row(
                "events",
                key,
                event.model_dump_json(exclude_none=True).encode("utf-8"),
                None,
                None,
                None,
            )


def _kafka_options(config: JobConfig, topic: str, **extra: str) -> str:
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": config.bootstrap_servers,
        "key.format": "raw",
        "key.fields": "k",
        "value.format": "raw",
        "value.fields-include": "EXCEPT_KEY",
        **extra,
    }
    return ", ".join(f"'{k}' = '{v}'" for k, v in options.items())


def build(env: StreamExecutionEnvironment, config: JobConfig) -> None:
    """Add the job's operators to ``env`` (call ``env.execute`` afterwards)."""
    env.enable_checkpointing(
        int(config.checkpoint_interval_s * 1000), CheckpointingMode.EXACTLY_ONCE
    )
    checkpoints = env.get_checkpoint_config()
    checkpoints.set_min_pause_between_checkpoints(int(config.checkpoint_interval_s * 500))
    checkpoints.set_checkpoint_timeout(max(60_000, int(config.checkpoint_interval_s * 10_000)))
    t_env = StreamTableEnvironment.create(env)

    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE answers_src (
          k BYTES, v BYTES,
          part INT METADATA FROM 'partition' VIRTUAL,
          off BIGINT METADATA FROM 'offset' VIRTUAL
        ) WITH ({
        _kafka_options(
            config,
            config.topics.answers,
            **{
                "properties.group.id": config.group_id,
                "scan.startup.mode": "group-offsets",
                "properties.auto.offset.reset": "earliest",
                "properties.isolation.level": "read_uncommitted",
            },
        )
    })
    """)
    for role in ROLES:
        t_env.execute_sql(f"""
            CREATE TEMPORARY TABLE sink_{role} (k STRING, v BYTES) WITH ({
            _kafka_options(
                config,
                getattr(config.topics, role),
                **{
                    "sink.delivery-guarantee": "at-least-once",
                    "properties.enable.idempotence": "true",
                    "properties.acks": "all",
                    "properties.linger.ms": "1",
                },
            )
        })
        """)

    answers = t_env.to_data_stream(t_env.from_path("answers_src"))
    routed = (
        AsyncDataStream.ordered_wait(
            answers,
            ScoreAndRoute(config),
            Time.milliseconds(int(config.score_timeout_s * 1000)),
            capacity=config.capacity,
            output_type=ROUTED_TYPE,
        )
        .name("score-and-route")
        .uid("score-and-route")
    )

    windows = (
        routed.filter(lambda r: r[4] is not None and r[3] is not None)
        .name("window-input")
        .uid("window-input")
        .key_by(lambda r: r[3], key_type=Types.STRING())
        .window(TumblingProcessingTimeWindows.of(Time.milliseconds(int(config.window_s * 1000))))
        .aggregate(AggregateWindow(), EmitWindowEvent(), output_type=ROUTED_TYPE)
        .name("live-metrics-window")
        .uid("live-metrics-window")
    )
    t_env.create_temporary_view("routed", routed.union(windows))
    statements = t_env.create_statement_set()
    for role in ROLES:
        statements.add_insert_sql(
            f"INSERT INTO sink_{role} SELECT k, v FROM routed WHERE role = '{role}'"
        )
    statements.attach_as_datastream()


def python_options(config: JobConfig) -> Configuration:
    """Small PyFlink bundles: a bundle's outputs leave the Python worker, and a checkpoint
    barrier can pass, only when the whole bundle is done. With the default (up to 100,000
    records or 1 s) a backlog becomes one huge bundle: with the embedding scorer, minutes
    without output and checkpoints that time out. At low rates a bundle closes on time, so
    ``bundle_time_ms`` is how long an answer may wait for its bundle: 500 ms made the scoring hop
    0.46 s at the median at 4 answers/s, 100 ms 0.065 s, 10 ms 0.011 s; under load bundles close
    on size, but each costs a round trip to the Python worker (see JobConfig.bundle_time_ms).

    ``buffer_timeout_ms``: a record leaves a task's output buffer when the buffer is full or after
    this long; Flink's 100 ms default put a flush wait on the hop to the sinks at low rates."""
    options = Configuration()
    options.set_integer("python.fn-execution.bundle.size", config.bundle_size)
    options.set_integer("python.fn-execution.bundle.time", config.bundle_time_ms)
    options.set_string("execution.buffer-timeout.interval", f"{config.buffer_timeout_ms} ms")
    return options


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JobConfig as JSON")
    args = parser.parse_args(argv)
    config = JobConfig.model_validate(json.loads(args.config))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    env = StreamExecutionEnvironment.get_execution_environment(python_options(config))
    build(env, config)
    log.info("submitting %s: %s -> %s", config.job_name, config.topics.answers, config.topics)
    env.execute(config.job_name)


if __name__ == "__main__":
    main(sys.argv[1:])
