"""Fixtures of the pipeline's integration tests: settings pointing at the running stack, the
database migrated, a rig per test (unique topics and groups), a simulator per profile."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from pipeline_rig import PipelineRig, pipeline_rig
from pydantic import SecretStr

from harness.stack.endpoints import Endpoints
from pipeline.kafka.settings import KafkaSettings
from pipeline.llm.sim.runner import SimulatorAdmin, SimulatorProcess
from pipeline.storage.db import Database
from pipeline.storage.migrate import migrate
from pipeline.storage.settings import DatabaseSettings


@pytest.fixture(scope="session")
def kafka_settings(endpoints: Endpoints) -> KafkaSettings:
    return KafkaSettings(bootstrap=endpoints.kafka_bootstrap)


@pytest.fixture(scope="session")
def db_settings(endpoints: Endpoints) -> DatabaseSettings:
    settings = DatabaseSettings(dsn=SecretStr(endpoints.db_dsn))
    with Database(settings, application_name="test-migrate") as db:
        migrate(db.conn())
    return settings


@pytest.fixture
def experiment_ids() -> list[str]:
    return []


@pytest.fixture
def new_experiment(experiment_ids: list[str]) -> Callable[[str], str]:
    def make(name: str = "exp") -> str:
        exp = f"test-{name}-{uuid.uuid4().hex[:8]}"
        experiment_ids.append(exp)
        return exp
    return make


@pytest.fixture
def rig(kafka_settings: KafkaSettings, db_settings: DatabaseSettings,
        experiment_ids: list[str]) -> Iterator[PipelineRig]:
    with pipeline_rig(kafka_settings, db_settings, experiment_ids) as r:
        yield r


@pytest.fixture
def simulator(tmp_path) -> Iterator[Callable[..., SimulatorProcess]]:
    """Factory: a simulator subprocess on a free port with a shipped profile (optionally a custom
    spec applied through the admin API)."""
    started: list[SimulatorProcess] = []

    def start(profile: str = "instant", spec: dict | None = None) -> SimulatorProcess:
        sim = SimulatorProcess(profile=profile, log_path=tmp_path / f"sim-{len(started)}.log")
        sim.start()
        started.append(sim)
        if spec is not None:
            SimulatorAdmin(sim.url).set_profile(spec, reset_counters=True)
        return sim

    yield start
    for sim in started:
        sim.stop()
