"""Fixtures for the scoring job on the real Flink cluster and Kafka: a private set of topics
(unique prefix), the job controller, and small Kafka helpers.

Every job a test submits is cancelled in a finally block (the cluster's two slots are shared).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flinkjob_helpers import Reader, private_topics

from flink.control import ScoringJobControl, job_config
from flink.job_config import JobConfig
from pipeline.topics import TopicCatalog


@pytest.fixture
def catalog(endpoints) -> Iterator[TopicCatalog]:
    """The pipeline's fixed topics under a unique prefix, deleted afterwards."""
    with private_topics(endpoints.kafka_bootstrap) as cat:
        yield cat


@pytest.fixture
def control(endpoints) -> Iterator[ScoringJobControl]:
    with ScoringJobControl() as ctl:
        yield ctl


@pytest.fixture
def make_config(endpoints, catalog) -> Callable[..., JobConfig]:
    def make(**overrides: Any) -> JobConfig:
        overrides.setdefault("checkpoint_interval_s", 1.0)
        overrides.setdefault("window_s", 1.0)
        return job_config(catalog=catalog, bootstrap_servers=endpoints.kafka_bootstrap, **overrides)

    return make


@pytest.fixture
def reader(endpoints) -> Iterator[Callable[[str], Reader]]:
    readers: list[Reader] = []

    def make(topic: str) -> Reader:
        r = Reader(endpoints.kafka_bootstrap, topic)
        readers.append(r)
        return r

    yield make
    for r in readers:
        r.close()
