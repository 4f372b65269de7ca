"""The stack's JVMs start small, grow under load and give their free heap back at idle; the
broker's log cleaner and Flink's network buffers are sized for one laptop, not a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.layout import Layout
from foundation.settings import StackSettings
from harness.stack import configs


def _layout(tmp_path: Path) -> tuple[StackSettings, Layout]:
    settings = StackSettings(home=tmp_path)  # type: ignore[call-arg]
    return settings, Layout.of(settings)


def _last(flags: list[str], prefix: str) -> str:
    """The value the JVM uses for an option given several times: the last one."""
    return [flag for flag in flags if flag.startswith(prefix)][-1][len(prefix):]


@pytest.mark.parametrize(("a", "b", "smaller"), [("64m", "256m", "64m"), ("1g", "512m", "512m"),
                                                 ("64m", "65536k", "64m"), ("2048", "1k", "1k")])
def test_min_size_compares_jvm_sizes(a: str, b: str, smaller: str) -> None:
    assert configs.min_size(a, b) == smaller


def test_kafka_starts_small_and_gives_heap_back(tmp_path: Path) -> None:
    _, layout = _layout(tmp_path)
    command = configs.kafka_java(layout, "kafka.Kafka", heap="256m")
    assert _last(command, "-Xms") == "64m"
    assert _last(command, "-Xmx") == "256m"
    assert "-XX:G1PeriodicGCInterval=15000" in command
    assert "-XX:MaxHeapFreeRatio=30" in command
    assert command.index("kafka.Kafka") > command.index("-XX:MaxHeapFreeRatio=30")
    # a heap below the initial size is not raised by it
    assert _last(configs.kafka_java(layout, "kafka.Kafka", heap="32m"), "-Xms") == "32m"


def test_kafka_log_cleaner_buffer_is_small(tmp_path: Path) -> None:
    settings, layout = _layout(tmp_path)
    path = configs.kafka_server_properties(settings, layout)
    props = dict(line.split("=", 1) for line in path.read_text().splitlines())
    assert int(props["log.cleaner.dedupe.buffer.size"]) == 16 * 1024 * 1024


def test_flink_processes_give_heap_back_and_keep_few_network_buffers(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    settings, layout = _layout(tmp_path)
    pyflink = layout.flink_venv / "lib" / "python3.11" / "site-packages" / "pyflink"
    for folder in ("conf", "lib", "opt"):
        (pyflink / folder).mkdir(parents=True)
    (pyflink / "conf" / "config.yaml").write_text("env:\n  java:\n    opts:\n      all: --add-exports=x\n")
    conf = yaml.safe_load((configs.flink_conf(settings, layout) / "config.yaml").read_text())
    opts = conf["env"]["java"]["opts"]
    assert opts["all"] == "--add-exports=x"
    for process in ("jobmanager", "taskmanager"):
        flags = opts[process].split()
        # Flink's scripts put -Xms = -Xmx before these options; the later -Xms wins
        assert _last(flags, "-Xms") == configs.JVM_INITIAL_HEAP
        assert set(configs.JVM_HEAP_GIVE_BACK) <= set(flags)
    # the JobManager, which no record passes through, compiles with C1 only; the TaskManager
    # carries every record and keeps C2
    assert "-XX:TieredStopAtLevel=1" in opts["jobmanager"].split()
    assert "TieredStopAtLevel" not in opts["taskmanager"]
    assert conf["taskmanager"]["memory"]["network"] == {"min": "32m", "max": "32m"}
