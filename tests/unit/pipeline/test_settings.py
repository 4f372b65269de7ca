"""Service settings: the environment first, then <home>/conf/services.env, then defaults."""

from __future__ import annotations

import pytest

from foundation.settings import get_settings
from pipeline.kafka.settings import KafkaSettings, services_env_file
from pipeline.storage.settings import DatabaseSettings
from pipeline.worker.settings import WorkerSettings


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    for var in ("HARNESS_KAFKA_BOOTSTRAP", "HARNESS_DB_DSN"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_defaults_when_services_env_is_absent(home) -> None:
    assert services_env_file() is None
    assert KafkaSettings().bootstrap == "127.0.0.1:9092"


def test_services_env_is_the_fallback_and_the_environment_wins(home, monkeypatch) -> None:
    (home / "conf").mkdir()
    (home / "conf" / "services.env").write_text(
        "HARNESS_KAFKA_BOOTSTRAP=broker:19092\nHARNESS_DB_DSN=postgresql://u:s3cret@db/h\n"
        "HARNESS_FLINK_URL=http://flink:8081\n")
    assert services_env_file() == home / "conf" / "services.env"
    assert KafkaSettings().bootstrap == "broker:19092"
    db = DatabaseSettings()
    assert db.dsn.get_secret_value() == "postgresql://u:s3cret@db/h"
    assert "s3cret" not in repr(db) and "s3cret" not in str(db.model_dump())
    monkeypatch.setenv("HARNESS_KAFKA_BOOTSTRAP", "env:9092")
    assert KafkaSettings().bootstrap == "env:9092"


def test_worker_pending_limit_defaults_to_twice_the_concurrency(home, monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_WORKER_CONCURRENCY", "300")
    assert WorkerSettings().pending_limit == 600
    assert WorkerSettings(max_pending=50).pending_limit == 50
