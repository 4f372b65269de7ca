"""One simulator process for the module's tests; each test starts from the `instant` profile."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from pipeline.llm.sim import SimulatorAdmin, SimulatorProcess


@pytest.fixture(scope="session")
def simulator() -> Iterator[SimulatorProcess]:
    with SimulatorProcess("instant", startup_timeout_s=30) as sim:
        yield sim


@pytest.fixture
def admin(simulator: SimulatorProcess) -> Iterator[SimulatorAdmin]:
    admin = SimulatorAdmin(simulator.url)
    admin.set_profile("instant", reset_counters=True)
    yield admin
    admin.set_profile("instant")


@pytest.fixture
def oai(simulator: SimulatorProcess) -> Iterator[openai.OpenAI]:
    """The official client, its own retries off, a short deadline."""
    client = openai.OpenAI(base_url=simulator.base_url, api_key="sk-integration", max_retries=0, timeout=5.0)
    yield client
    client.close()
