"""Shared test setup.

Marks every test by its folder (tests/unit -> unit, tests/integration -> integration,
tests/e2e -> e2e) and provides the fixtures over the real local stack, which only integration
and e2e tests request (`harness up` is idempotent: a running stack is reused)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the stack fixtures import lazily: the Flink venv runs unit tests too
    from harness.airflow_api import AirflowClient
    from harness.stack.endpoints import Endpoints
    from harness.stack.manager import Stack

_TESTS = Path(__file__).parent

#: a stand-in for a real OpenAI-compatible endpoint (tests/e2e/test_openai_backend.py) listens
#: here; the workers send the API key only to allowlisted base URLs, and the allowlist is fixed
#: when the stack starts: a stack started by this test session allows it
OPENAI_STANDIN_PORT = 18001
os.environ.setdefault("HARNESS_LLM_ALLOWED_BASE_URLS", f"http://127.0.0.1:{OPENAI_STANDIN_PORT}/v1")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(_TESTS).parts
        if parts and parts[0] in {"unit", "integration", "e2e"}:
            item.add_marker(getattr(pytest.mark, parts[0]))
    # Tests that stop the stack run last, whatever their file's place in the order.
    items.sort(key=lambda item: item.get_closest_marker("stack_down") is not None)



@pytest.fixture(scope="session")
def stack() -> Stack:
    from harness.stack.manager import Stack

    return Stack()


@pytest.fixture(scope="session")
def endpoints(stack: Stack) -> Endpoints:
    """The stack, up and healthy (started if needed)."""
    return stack.up()


@pytest.fixture(scope="session")
def airflow(endpoints: Endpoints) -> Iterator[AirflowClient]:
    from harness.airflow_api import AirflowClient

    with AirflowClient(endpoints.airflow_url, endpoints.airflow_user,
                       endpoints.airflow_password) as client:
        yield client


@pytest.fixture
def new_topic(endpoints: Endpoints) -> Iterator[Callable[..., str]]:
    """Factory of uniquely named topics, deleted after the test."""
    from confluent_kafka.admin import AdminClient, NewTopic

    from harness.stack import probes

    admin = AdminClient({"bootstrap.servers": endpoints.kafka_bootstrap})
    created: list[str] = []

    def make(prefix: str = "test", partitions: int = 1) -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:10]}"
        for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
            future.result(timeout=30)
        created.append(name)

        def visible() -> probes.ProbeResult:
            # Creation is acknowledged before every broker's metadata cache has the topic.
            topic = admin.list_topics(name, timeout=5).topics.get(name)
            ok = topic is not None and topic.error is None and len(topic.partitions) == partitions
            return probes.ProbeResult(ok, str(topic.error) if topic is not None else "absent")

        probes.wait_until(f"topic {name}", visible, timeout_s=30)
        return name

    yield make
    if created:
        for future in admin.delete_topics(created).values():
            future.result(timeout=30)
