"""The scoring job's parameters: one validated object, passed to the job as a single JSON
argument (``--config``), so that what `harness flink submit` decided is exactly what runs.

Imported both by the job (Flink environment) and by the controller (services environment):
pydantic and the topic spec only, no pyflink, no HTTP client.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flink.routing import PolicyDefaults
from pipeline.messages import ExperimentPolicy
from pipeline.topics import TopicCatalog

__all__ = ["DEFAULT_JOB_NAME", "JobConfig", "JobTopics"]

DEFAULT_JOB_NAME = "qa-scoring"
_POLICY = ExperimentPolicy.model_fields


class JobTopics(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    answers: str
    results: str
    questions: str
    dlq: str
    events: str

    @classmethod
    def of(cls, catalog: TopicCatalog) -> JobTopics:
        return cls(
            answers=catalog.answers.name,
            results=catalog.results.name,
            questions=catalog.questions.name,
            dlq=catalog.dlq.name,
            events=catalog.events.name,
        )


class JobConfig(BaseModel):
    """Everything the scoring job needs (parallelism and savepoints are given to `flink run`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_name: str = Field(DEFAULT_JOB_NAME, min_length=1, max_length=200)
    bootstrap_servers: str = Field(min_length=1)
    topics: JobTopics
    group_id: str = Field(
        "flink-scoring", min_length=1, description="consumer group of the qa.answers source"
    )
    checkpoint_interval_s: float = Field(5.0, gt=0, le=3600)
    window_s: float = Field(5.0, gt=0, le=3600, description="live-metrics tumbling window")
    default_threshold: float = Field(_POLICY["score_threshold"].default, ge=-1, le=1)
    default_max_rounds: int = Field(_POLICY["max_rounds"].default, ge=0, le=20)
    default_scorer: str = Field(_POLICY["scorer"].default, min_length=1)
    scorer_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description='per scorer, e.g. {"minilm": {"threads": 1}}'
    )
    max_batch: int = Field(64, ge=1, le=4096, description="records per score_batch call")
    capacity: int = Field(
        256, ge=1, le=100_000, description="records in flight in the async scoring operator"
    )
    bundle_size: int = Field(
        128,
        ge=1,
        le=100_000,
        description="records per PyFlink bundle: the Python operator's outputs leave, and a "
        "checkpoint barrier passes, only at the end of a bundle",
    )
    bundle_time_ms: int = Field(
        25,
        ge=1,
        le=60_000,
        description="longest bundle, in ms: at low rates an answer waits up to this long before "
        "the Python operator sees it (records reach Python at the bundle's end). Every bundle "
        "ends with a round trip to the Python worker: 10 ms bundles (with a 5 ms buffer timeout) "
        "once held the job to about 10 answers/s under a 300/s load on 2 busy cores",
    )
    buffer_timeout_ms: int = Field(
        10,
        ge=0,
        le=10_000,
        description="longest time a record waits in a network buffer between tasks before it is "
        "flushed (Flink's default, 100 ms, was about half of the storage hop at low rates); 0 "
        "flushes after every record",
    )
    score_timeout_s: float = Field(
        0.0,
        ge=0,
        description="a record not scored by then fails the job; 0: no per-record timer (PyFlink "
        "starts a thread per record for it), the checkpoint timeout is the watchdog",
    )

    @property
    def defaults(self) -> PolicyDefaults:
        return PolicyDefaults(self.default_threshold, self.default_max_rounds, self.default_scorer)

    def to_args(self) -> list[str]:
        return ["--config", self.model_dump_json()]

    @classmethod
    def from_json(cls, text: str) -> JobConfig:
        return cls.model_validate(json.loads(text))
