"""The cost benchmarks' stack-facing helpers on the real stack (the benchmarks themselves are not
run: they need the pipeline to themselves for minutes): the processes found by service with their
CPU and memory, the telemetry switch read from the services, raw Kafka pings, the memory table."""

from __future__ import annotations

import idle_memory
import kafka_ping
import procstat
import pytest
import stack_sample

INFRA = {"postgres", "kafka", "flink-jobmanager", "flink-taskmanager"}


@pytest.fixture
def found(stack, endpoints) -> stack_sample.StackProcesses:
    return stack_sample.find(stack)


def test_every_service_is_found_with_its_children(found) -> None:
    services = set(found.owners.values())
    assert services >= INFRA | {"supervisord"}, services
    assert services >= {name for name, pid in found.program_pids.items() if pid}
    by_service: dict[str, int] = {}
    for service in found.owners.values():
        by_service[service] = by_service.get(service, 0) + 1
    assert by_service["postgres"] > 1  # the postmaster's backends and helpers, below it


def test_cpu_and_memory_are_read_for_the_services(found) -> None:
    ticks = found.ticks()
    assert ticks["kafka"] > 0 and ticks["flink-jobmanager"] > 0  # JVMs that have started
    for service in INFRA:
        memory = procstat.read_rollup(found.program_pids[service])
        assert memory is not None and memory[0] > 0 and memory[1] > 0, service


def test_the_telemetry_switch_is_read_from_a_service(found) -> None:
    switch = stack_sample.telemetry_mode(found)
    assert switch is not None  # a pipeline service's environment is readable
    assert stack_sample.telemetry_on(switch) in (True, False)


def test_raw_kafka_pings_come_back(endpoints) -> None:
    pings = kafka_ping.ping(20)
    assert len(pings.consumed_s) == 20 and len(pings.acked_s) == 20
    assert all(0 < s < 10 for s in pings.consumed_s)


def test_idle_memory_prints_the_tables_and_the_target(stack, endpoints, capsys) -> None:
    assert idle_memory.main(["--top", "5"]) == 0
    out = capsys.readouterr().out
    assert "PSS MB" in out and "target 3.5 GB" in out and "kafka" in out
