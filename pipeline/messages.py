"""The versioned envelope of every service (docs/architecture.md#message-envelope), telemetry events and
dead-letter records, with their JSON encoding and a single decoding error type.

Conventions
-----------
* Every time is a ``float`` of epoch seconds (``time.time()``), never a datetime or milliseconds.
* ``round`` counts regenerations (0 = the first answer); ``attempt`` counts LLM attempts made in
  the *current* round and ``deferrals`` the hand-offs to a retry tier in the current round. The
  full story of every round lives in ``attempts`` and ``hops``, which are only ever appended to.
* Record keys: ``question_id`` for work topics, ``experiment_id`` for qa.events (see
  :meth:`Envelope.kafka_key`, :meth:`Event.kafka_key`).
* qa.dlq holds two record shapes: an :class:`Envelope` with ``status="dead_lettered"`` and a
  ``dlq_reason`` (a valid record that cannot succeed), and a :class:`DeadLetter` (raw bytes that
  did not decode). :func:`decode_dlq_record` tells them apart by the ``record`` field.

Decoding never raises anything but :class:`DecodeError`, whose ``reason`` is machine-readable:
``empty``, ``oversized``, ``invalid_encoding``, ``invalid_json``, ``not_an_object``,
``unsupported_version``, ``schema_violation: <field.path>``.

This module imports only pydantic (+ pydantic-settings) and the standard library: the Flink job's
environment imports it too, without confluent-kafka or openai.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "SCHEMA_VERSION",
    "Answer",
    "Attempt",
    "AttemptStatus",
    "DeadLetter",
    "DecodeError",
    "Envelope",
    "ErrorClass",
    "Event",
    "EventKind",
    "ExperimentPolicy",
    "Hop",
    "HopName",
    "MessageSettings",
    "QuestionText",
    "SourceCoordinates",
    "Stage",
    "TerminalStatus",
    "build_dead_letter",
    "dead_letter_json_schema",
    "decode",
    "decode_dlq_record",
    "decode_event",
    "encode",
    "envelope_json_schema",
    "event_json_schema",
    "message_settings",
]

SCHEMA_VERSION = 1
MIB = 1024 * 1024


class MessageSettings(BaseSettings):
    """Limits for encoded records (env prefix ``HARNESS_MESSAGE_``)."""

    model_config = SettingsConfigDict(env_prefix="HARNESS_MESSAGE_", extra="ignore")

    max_bytes: int = Field(
        default=MIB, ge=1024, description="larger records are dead-lettered as oversized"
    )
    dlq_max_payload_bytes: int = Field(
        default=256 * 1024,
        ge=0,
        description="raw bytes kept in a dead letter; the rest is cut (size and sha256 kept)",
    )


@lru_cache(maxsize=1)
def message_settings() -> MessageSettings:
    """The process-wide message settings (read once from the environment)."""
    return MessageSettings()


# --- vocabularies ----------------------------------------------------------------------------


class ErrorClass(StrEnum):
    """How an LLM call failed: the LLM client's classes (docs/errors-and-retries.md#error-classes)."""

    OVERLOAD = "overload"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXHAUSTED = "quota_exhausted"
    INVALID_REQUEST = "invalid_request"
    BAD_COMPLETION = "bad_completion"


class AttemptStatus(StrEnum):
    OK = "ok"
    ERROR = "error"


class TerminalStatus(StrEnum):
    ACCEPTED = "accepted"  # scored at or above the threshold
    LOW_QUALITY = "low_quality"  # below the threshold with no rounds left (best effort)
    DEAD_LETTERED = "dead_lettered"  # could not be answered; see dlq_reason


class Stage(StrEnum):
    """Conventional stage names for hops and events (the fields accept any lower_snake name)."""

    GENERATOR = "generator"
    WORKER = "worker"
    RELAY = "relay"
    FLINK = "flink"
    STORAGE = "storage"
    SINK = "sink"


class HopName(StrEnum):
    """Conventional hop names ("<stage>.<what>"); reports build the per-hop waterfall from them.
    :attr:`Hop.name` accepts any dotted lower_snake name."""

    GENERATOR_SENT = "generator.sent"  # produced to qa.questions (intended_at is the plan)
    WORKER_RECEIVED = "worker.received"  # consumed from qa.questions
    WORKER_ANSWERED = "worker.answered"  # produced to qa.answers
    WORKER_DEFERRED = "worker.deferred"  # produced to a qa.retry.<tier> topic
    RELAY_RELEASED = "relay.released"  # re-published from a tier to qa.questions
    FLINK_SCORED = "flink.scored"  # scored and routed by the Flink job
    STORAGE_WRITTEN = "storage.written"  # committed to PostgreSQL
    DEAD_LETTERED = "dead_lettered"  # produced to qa.dlq (any stage)


class EventKind(StrEnum):
    """Conventional event kinds (the field accepts any lower_snake name)."""

    HOP = "hop"  # attrs: hop (name); one per hop
    LLM_ATTEMPT = "llm_attempt"  # attrs: latency_s, status, error_class, http_status, delay_s
    CACHE_HIT = "cache_hit"  # generator served the answer from storage
    RETRY_DEFERRED = "retry_deferred"  # attrs: tier, due_at, error_class
    DEAD_LETTER = "dead_letter"  # attrs: reason
    SCORED = "scored"  # attrs: score, scorer, decision
    FLINK_WINDOW = "flink_window"  # attrs: window_start, window_end, scored, accepted, ...


# --- building blocks -------------------------------------------------------------------------

Timestamp = Annotated[float, Field(ge=0, description="epoch seconds (time.time())")]
Identifier = Annotated[str, Field(min_length=1, max_length=200)]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", max_length=100)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_assignment=False)


class QuestionText(_Model):
    """The question as asked: the dataset's title and (possibly empty) content."""

    title: str
    content: str = ""


class ExperimentPolicy(_Model):
    """The experiment settings every stage needs, carried inline so services need no restart.

    ``retry`` is the experiment's retry-policy spec exactly as the experiment states it (the LLM
    layer's policy data); ``ref`` optionally names it (e.g. a digest) for storage and reports.
    """

    ref: str | None = Field(
        default=None, max_length=200, description="a stable reference to the policy"
    )
    retry: dict[str, Any] = Field(default_factory=dict, description="the retry-policy spec")
    score_threshold: float = Field(
        default=0.3, ge=-1, le=1, description="accept at or above this score"
    )
    max_rounds: int = Field(
        default=2, ge=0, le=20, description="regenerations allowed after round 0"
    )
    scorer: str = Field(default="lexical", min_length=1, max_length=100, description="scorer name")
    llm: dict[str, Any] = Field(
        default_factory=dict,
        description="per-experiment LLM request parameters (model, max_tokens, ...)",
    )


class Hop(_Model):
    """A stage touched the record, e.g. ``worker.received`` at 1718000000.25 in round 0."""

    name: Name
    at: Timestamp
    round: int = Field(default=0, ge=0)


class Attempt(_Model):
    """One LLM call: when, how it ended, and the wait chosen after it (backoff or deferral)."""

    round: int = Field(ge=0)
    number: int = Field(ge=1, description="1-based attempt number within the round")
    status: AttemptStatus
    error_class: ErrorClass | None = None
    http_status: int | None = Field(default=None, ge=100, le=599)
    delay_s: float | None = Field(default=None, ge=0, description="wait chosen after this attempt")
    started_at: Timestamp
    ended_at: Timestamp
    detail: str | None = Field(
        default=None, max_length=500, description="short error text; never secrets"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Attempt:
        if self.status is AttemptStatus.ERROR and self.error_class is None:
            raise ValueError("error_class is required when status is 'error'")
        if self.status is AttemptStatus.OK and self.error_class is not None:
            raise ValueError("error_class must be empty when status is 'ok'")
        if self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        return self

    @property
    def latency_s(self) -> float:
        return self.ended_at - self.started_at


class Answer(_Model):
    text: str
    model: str
    prompt_tokens: int | None = Field(default=None, ge=0)
    completion_tokens: int | None = Field(default=None, ge=0)
    finish_reason: str | None = None


# --- the envelope ----------------------------------------------------------------------------


class Envelope(_Model):
    """One question's journey through the pipeline (qa.questions, qa.retry.*, qa.answers,
    qa.results, and qa.dlq when dead-lettered)."""

    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    experiment_id: Identifier
    question_id: Identifier
    send_seq: int | None = Field(
        default=None,
        ge=0,
        description="the generator's send number; tells repeated asks of one question apart",
    )
    round: int = Field(default=0, ge=0, description="regenerations so far (0 = first answer)")
    attempt: int = Field(default=0, ge=0, description="LLM attempts made in the current round")
    deferrals: int = Field(
        default=0, ge=0, description="hand-offs to a retry tier in the current round"
    )

    question: QuestionText
    reference_answer: str = Field(
        default="", description="the dataset's best answer (may be empty)"
    )
    topic: str | None = Field(default=None, max_length=100, description="topic name, e.g. 'Health'")
    topic_id: int | None = Field(
        default=None, ge=0, description="topic index, 0-based (Hugging Face numbering)"
    )
    policy: ExperimentPolicy = Field(default_factory=ExperimentPolicy)

    intended_at: Timestamp = Field(description="when the arrival process meant to send it")
    created_at: Timestamp = Field(description="when the generator built the record")
    hops: list[Hop] = Field(default_factory=list)
    attempts: list[Attempt] = Field(default_factory=list)

    answer: Answer | None = None
    score: float | None = Field(default=None, description="the current round's score")
    round_scores: list[float] = Field(
        default_factory=list, description="scores of the earlier rounds, index = round"
    )
    status: TerminalStatus | None = None
    due_at: Timestamp | None = Field(default=None, description="when a retry tier may release it")
    dlq_reason: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _consistent(self) -> Envelope:
        if self.status is TerminalStatus.DEAD_LETTERED and not self.dlq_reason:
            raise ValueError("dlq_reason is required when status is 'dead_lettered'")
        return self

    def kafka_key(self) -> bytes:
        return self.question_id.encode("utf-8")

    def record_hop(self, name: str, at: float) -> Envelope:
        """Append a hop for the current round (in place); returns self for chaining."""
        self.hops.append(Hop(name=name, at=at, round=self.round))
        return self

    def hop_time(self, name: str, round: int | None = None) -> float | None:
        """The time of the last hop called ``name`` (in ``round`` if given), else None."""
        for hop in reversed(self.hops):
            if hop.name == name and (round is None or hop.round == round):
                return hop.at
        return None

    def record_attempt(self, attempt: Attempt) -> Envelope:
        """Append an attempt of the current round and count it (in place); returns self."""
        if attempt.round != self.round:
            raise ValueError(f"attempt.round {attempt.round} != envelope round {self.round}")
        self.attempts.append(attempt)
        self.attempt += 1
        return self

    def next_round(self) -> Envelope:
        """A copy for regeneration: round + 1, per-round counters reset, the answer dropped, the
        score moved to ``round_scores``; ids, history and ``intended_at`` are kept."""
        scores = [*self.round_scores, *([] if self.score is None else [self.score])]
        return self.model_copy(
            deep=True,
            update={
                "round": self.round + 1,
                "attempt": 0,
                "deferrals": 0,
                "answer": None,
                "score": None,
                "round_scores": scores,
                "status": None,
                "due_at": None,
                "dlq_reason": None,
            },
        )


# --- telemetry -------------------------------------------------------------------------------


class Event(_Model):
    """One telemetry record on qa.events (one per hop and per LLM attempt, plus windows)."""

    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    event_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex,
        min_length=1,
        max_length=64,
        description="unique id, lets the sink drop redeliveries",
    )
    experiment_id: Identifier
    question_id: str | None = Field(default=None, max_length=200)
    stage: Name
    kind: Name
    ts: Timestamp
    round: int | None = Field(default=None, ge=0)
    attempt: int | None = Field(default=None, ge=0)
    attrs: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, env: Envelope, *, stage: str, kind: str, ts: float, **attrs: Any) -> Event:
        """An event about ``env`` (ids, round and attempt copied from it)."""
        return cls(
            experiment_id=env.experiment_id,
            question_id=env.question_id,
            stage=stage,
            kind=kind,
            ts=ts,
            round=env.round,
            attempt=env.attempt,
            attrs=attrs,
        )

    def kafka_key(self) -> bytes:
        return self.experiment_id.encode("utf-8")


# --- dead letters ----------------------------------------------------------------------------


class SourceCoordinates(_Model):
    topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = Field(default=None, description="the source record key (utf-8, else base64)")


class DeadLetter(_Model):
    """A record that could not be decoded, kept with its raw bytes and the reason."""

    record: Literal["dead_letter"] = "dead_letter"
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    reason: str = Field(min_length=1, max_length=500, description="e.g. 'schema_violation: round'")
    stage: str | None = Field(
        default=None, max_length=100, description="the service that dead-lettered it"
    )
    source: SourceCoordinates
    at: Timestamp
    experiment_id: str | None = Field(
        default=None, max_length=200, description="best effort, from the payload"
    )
    question_id: str | None = Field(
        default=None, max_length=200, description="best effort, from the payload"
    )
    payload: str = Field(description="the raw bytes (possibly cut), as text or base64")
    payload_encoding: Literal["text", "base64"]
    payload_size: int = Field(ge=0, description="size of the original raw record")
    payload_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    payload_truncated: bool = False

    @property
    def code(self) -> str:
        """The reason without its detail: 'schema_violation: round' -> 'schema_violation'."""
        return self.reason.split(":", 1)[0]

    def raw_bytes(self) -> bytes:
        """The kept payload bytes (all of them unless ``payload_truncated``)."""
        if self.payload_encoding == "base64":
            return base64.b64decode(self.payload)
        return self.payload.encode("utf-8")

    def kafka_key(self) -> bytes | None:
        key = self.question_id or self.source.key
        return key.encode("utf-8") if key else None


# --- encoding and decoding -------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


class DecodeError(ValueError):
    """A record that cannot become a model. ``reason`` is machine-readable (see the module doc);
    ``code`` is its part before the colon and ``field`` the offending field path, if any."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason} ({detail})" if detail else reason)
        self.reason = reason
        self.detail = detail
        code, _, rest = reason.partition(":")
        self.code = code
        self.field = rest.strip() or None


def encode(model: BaseModel) -> bytes:
    """Compact UTF-8 JSON (fields that are None are left out)."""
    return model.model_dump_json(exclude_none=True).encode("utf-8")


def decode(
    data: bytes | bytearray | memoryview | None, *, max_bytes: int | None = None
) -> Envelope:
    """Bytes -> :class:`Envelope`, or :class:`DecodeError`. ``max_bytes`` defaults to the setting."""
    return _decode(Envelope, data, max_bytes)


def decode_event(
    data: bytes | bytearray | memoryview | None, *, max_bytes: int | None = None
) -> Event:
    return _decode(Event, data, max_bytes)


def decode_dlq_record(
    data: bytes | bytearray | memoryview | None, *, max_bytes: int | None = None
) -> Envelope | DeadLetter:
    """A qa.dlq record: a :class:`DeadLetter` if its ``record`` field says so, else an Envelope."""
    obj = _parse(data, max_bytes)
    model: type[Envelope] | type[DeadLetter] = (
        DeadLetter if obj.get("record") == "dead_letter" else Envelope
    )
    return _validate(model, obj)


def _decode(
    model: type[M], data: bytes | bytearray | memoryview | None, max_bytes: int | None
) -> M:
    return _validate(model, _parse(data, max_bytes))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse(data: bytes | bytearray | memoryview | None, max_bytes: int | None) -> dict[str, Any]:
    if data is None or len(data) == 0:
        raise DecodeError("empty", "no value (null or zero bytes)")
    limit = message_settings().max_bytes if max_bytes is None else max_bytes
    if len(data) > limit:
        raise DecodeError("oversized", f"{len(data)} bytes > limit {limit}")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("invalid_encoding", f"not UTF-8 at byte {exc.start}") from exc
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise DecodeError("invalid_json", str(exc)[:200]) from exc
    if not isinstance(obj, dict):
        raise DecodeError("not_an_object", f"top-level JSON {type(obj).__name__}")
    version = obj.get("schema_version", SCHEMA_VERSION)
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise DecodeError("unsupported_version", f"schema_version {version} > {SCHEMA_VERSION}")
    return obj


def _validate(model: type[M], obj: dict[str, Any]) -> M:
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        path = ".".join(str(p) for p in first["loc"]) or "$"
        raise DecodeError(f"schema_violation: {path}", first["msg"][:200]) from exc


def build_dead_letter(
    raw: bytes | bytearray | memoryview | None,
    *,
    reason: str | DecodeError,
    topic: str,
    partition: int | None,
    offset: int | None,
    at: float,
    key: bytes | None = None,
    stage: str | None = None,
    max_payload_bytes: int | None = None,
) -> DeadLetter:
    """The qa.dlq record for raw bytes that failed with ``reason`` at topic/partition/offset.

    The payload is kept as text when it is UTF-8, else as base64, cut to ``max_payload_bytes``
    (default: the ``dlq_max_payload_bytes`` setting) so that the dead letter always fits a Kafka
    record; the original size and sha256 are kept. experiment_id and question_id are copied from
    the payload when it is a JSON object that has them.
    """
    data = b"" if raw is None else bytes(raw)
    limit = (
        message_settings().dlq_max_payload_bytes if max_payload_bytes is None else max_payload_bytes
    )
    kept = data[:limit]
    text = _utf8_prefix(kept, cut=len(kept) < len(data))
    encoding: Literal["text", "base64"]
    if text is not None:
        payload, encoding = text, "text"
        kept = text.encode("utf-8")
    else:
        payload, encoding = base64.b64encode(kept).decode("ascii"), "base64"
    ids = _ids_from_payload(data) if len(data) <= 4 * MIB else {}
    return DeadLetter(
        reason=reason.reason if isinstance(reason, DecodeError) else reason,
        stage=stage,
        source=SourceCoordinates(
            topic=topic, partition=partition, offset=offset, key=_key_text(key)
        ),
        at=at,
        experiment_id=ids.get("experiment_id"),
        question_id=ids.get("question_id"),
        payload=payload,
        payload_encoding=encoding,
        payload_size=len(data),
        payload_sha256=hashlib.sha256(data).hexdigest(),
        payload_truncated=len(kept) < len(data),
    )


def _utf8_prefix(data: bytes, *, cut: bool) -> str | None:
    """``data`` as text if it is UTF-8; when it was cut mid-character, drop the partial tail."""
    tries = range(4) if cut else range(1)
    for drop in tries:
        try:
            return data[: len(data) - drop].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def _key_text(key: bytes | None) -> str | None:
    if key is None:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(key).decode("ascii")


def _ids_from_payload(data: bytes) -> dict[str, str]:
    try:
        obj = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # not JSON: there are no ids to recover
        return {}
    if not isinstance(obj, dict):
        return {}
    return {
        k: v
        for k in ("experiment_id", "question_id")
        if isinstance(v := obj.get(k), str) and 0 < len(v) <= 200
    }


# --- JSON schemas ----------------------------------------------------------------------------

_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _schema(model: type[BaseModel], name: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    return {
        "$schema": _SCHEMA_DIALECT,
        "$id": f"urn:llm-pipeline-harness:{name}:v{SCHEMA_VERSION}",
        **schema,
    }


def envelope_json_schema() -> dict[str, Any]:
    """The published JSON schema of :class:`Envelope` (pipeline/schemas/envelope.schema.json)."""
    return _schema(Envelope, "envelope")


def event_json_schema() -> dict[str, Any]:
    return _schema(Event, "event")


def dead_letter_json_schema() -> dict[str, Any]:
    return _schema(DeadLetter, "dead_letter")
