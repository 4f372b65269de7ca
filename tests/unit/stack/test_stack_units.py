"""Unit tests of the stack's pure parts: CLI wiring, probes' deadlines, secrets, supervisor config."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from foundation.layout import Layout
from foundation.settings import StackSettings
from harness.cli import build_parser
from harness.stack import probes, secrets
from harness.stack.service import Service
from harness.stack.supervisor import render


def test_cli_has_the_stack_commands():
    parser = build_parser()
    for command in (["up"], ["down"], ["status", "--json"], ["logs", "kafka", "-f"]):
        args = parser.parse_args(command)
        assert callable(args.func)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_until_returns_when_the_probe_succeeds_without_real_sleep():
    clock = FakeClock()
    answers = iter([probes.ProbeResult(False, "starting")] * 3 + [probes.ProbeResult(True, "up")])
    result = probes.wait_until("svc", lambda: next(answers), 10, clock=clock, sleep=clock.sleep)
    assert result.ok and result.detail == "up"
    assert len(clock.sleeps) == 3
    assert clock.sleeps == sorted(clock.sleeps)  # pauses grow


def test_wait_until_raises_at_the_deadline_with_the_last_answer():
    clock = FakeClock()
    with pytest.raises(probes.NotReady, match="svc not ready after 5 s: still booting"):
        probes.wait_until("svc", lambda: probes.ProbeResult(False, "still booting"), 5,
                          clock=clock, sleep=clock.sleep)
    assert clock.now <= 5 + 1e-9


def test_secrets_are_created_once_with_owner_only_mode(tmp_path: Path):
    first = secrets.get_or_create(tmp_path, "pw")
    assert secrets.get_or_create(tmp_path, "pw") == first
    assert stat.S_IMODE((tmp_path / "pw").stat().st_mode) == 0o600
    assert len(first) >= 24


def test_supervisor_config_has_every_program_without_autostart(tmp_path: Path):
    layout = Layout(home=tmp_path)
    services = [
        Service(name="kafka", command=["java", "-cp", "a b/*", "kafka.Kafka"], url="kafka://x",
                probe=lambda: probes.ProbeResult(True), phase=0, env={"K": "v%1"}),
        Service(name="postgres", command=["postgres"], url="pg://x",
                probe=lambda: probes.ProbeResult(True), phase=0, user="postgres", stop_signal="INT"),
    ]
    text = render(layout, services)
    assert "[program:kafka]" in text and "[program:postgres]" in text
    assert text.count("autostart=false") == 2
    assert "command=java -cp 'a b/*' kafka.Kafka" in text
    assert 'environment=K="v%%1"' in text  # supervisor expands %, so it is escaped
    assert "user=postgres" in text and "stopsignal=INT" in text
    assert text.count("killasgroup=true") == 2


def test_external_services_replace_local_ones():
    settings = StackSettings(external_kafka="broker:9092", external_flink_url="http://flink:8081")
    assert not settings.local_kafka and settings.kafka_bootstrap_servers == "broker:9092"
    assert settings.flink_url == "http://flink:8081"
    assert settings.local_postgres


def test_kafka_cluster_ids_never_start_with_a_dash(monkeypatch) -> None:
    """One random id in 64 starts with "-", which the storage tool reads as an option (seen in CI)."""
    import uuid as uuid_module

    from harness.stack import configs

    made = iter([uuid_module.UUID(bytes=b"\xf8" + bytes(15)), uuid_module.UUID(bytes=bytes(16))])
    monkeypatch.setattr(configs.uuid, "uuid4", lambda: next(made))
    assert configs.kafka_cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA"
    monkeypatch.undo()
    assert all(not configs.kafka_cluster_id().startswith("-") for _ in range(2000))


def test_signing_keys_are_long_enough_for_hs512_and_short_old_ones_are_replaced(tmp_path: Path):
    key = secrets.get_or_create(tmp_path, "jwt", "signing-key")
    assert len(key) >= secrets.SIGNING_KEY_LENGTH
    assert secrets.get_or_create(tmp_path, "jwt", "signing-key") == key
    (tmp_path / "old").write_text("x" * 32)  # made by an earlier version
    replaced = secrets.get_or_create(tmp_path, "old", "signing-key")
    assert len(replaced) >= secrets.SIGNING_KEY_LENGTH
    assert stat.S_IMODE((tmp_path / "old").stat().st_mode) == 0o600
    assert secrets.get_or_create(tmp_path, "old") == replaced
    (tmp_path / "pw").write_text("y" * 32)
    assert secrets.get_or_create(tmp_path, "pw") == "y" * 32, "passwords are never replaced"
