"""Where a scored answer goes next (docs/architecture.md#scoring-and-regeneration): pure, no Flink, no Kafka.

Decision, given the effective policy (the record's own, else the job's defaults)::

    score >= threshold                      -> qa.results    status=accepted
    score <  threshold, round <  max_rounds -> qa.questions  round+1 (same ids, history, intended_at)
    score <  threshold, round >= max_rounds -> qa.results    status=low_quality (best effort)
    no reference answer to score against    -> qa.results    status=low_quality, decision
                                               "no_reference" (regenerating cannot raise a score
                                               measured against nothing)
    cannot be scored (no answer, unknown scorer, scorer failure) -> qa.dlq (Envelope, dead_lettered)
    does not decode                         -> qa.dlq (DeadLetter with the raw bytes and reason)

Every outcome also carries one event for qa.events (``scored`` or ``dead_letter``) whose
``event_id`` is derived from the record (not random), so a redelivery after a Flink restart
(the sinks are at-least-once) yields the same id and the metrics sink can drop it.

Every routed envelope gets a ``flink.scored`` (or ``dead_lettered``) hop in the round it was
scored in; a record sent back is then moved to the next round with
:meth:`~pipeline.messages.Envelope.next_round`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pipeline.messages import (
    DecodeError,
    Envelope,
    Event,
    EventKind,
    ExperimentPolicy,
    HopName,
    Stage,
    TerminalStatus,
    build_dead_letter,
    encode,
)

__all__ = [
    "Decision",
    "EffectivePolicy",
    "Outcome",
    "Output",
    "PolicyDefaults",
    "RoutedRecord",
    "dead_letter_envelope",
    "dead_letter_undecodable",
    "decide",
    "effective_policy",
    "route_scored",
]

STAGE = Stage.FLINK.value


class Output(StrEnum):
    """The job's output topics, by role (the topic spec maps roles to names)."""

    RESULTS = "results"
    QUESTIONS = "questions"
    DLQ = "dlq"
    EVENTS = "events"


class Decision(StrEnum):
    """What the job did with one input record (also the ``decision`` of its ``scored`` event)."""

    ACCEPTED = "accepted"
    REGENERATE = "regenerate"  # sent back to qa.questions for another round
    LOW_QUALITY = "low_quality"  # below the threshold, no rounds left
    NO_REFERENCE = "no_reference"  # nothing to score against: kept as low_quality at once
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class PolicyDefaults:
    """The job's policy for records that do not state their own (one job serves every
    experiment; each record's ``policy`` wins field by field)."""

    score_threshold: float = ExperimentPolicy.model_fields["score_threshold"].default
    max_rounds: int = ExperimentPolicy.model_fields["max_rounds"].default
    scorer: str = ExperimentPolicy.model_fields["scorer"].default

    def __post_init__(self) -> None:
        # The same bounds as the envelope's policy.
        ExperimentPolicy(
            score_threshold=self.score_threshold, max_rounds=self.max_rounds, scorer=self.scorer
        )


@dataclass(frozen=True)
class EffectivePolicy:
    score_threshold: float
    max_rounds: int
    scorer: str


def effective_policy(env: Envelope, defaults: PolicyDefaults) -> EffectivePolicy:
    """The record's threshold, max rounds and scorer where it states them, else the defaults.

    "States" means the field was present in the record: pydantic fills absent fields with the
    model defaults, which must not override the job's defaults.
    """
    stated = env.policy.model_fields_set if "policy" in env.model_fields_set else set()

    def pick(name: str) -> Any:
        return getattr(env.policy, name) if name in stated else getattr(defaults, name)

    return EffectivePolicy(pick("score_threshold"), pick("max_rounds"), pick("scorer"))


def decide(score: float, round: int, policy: EffectivePolicy) -> Decision:
    """Accept at or above the threshold; else regenerate while rounds are left."""
    if score >= policy.score_threshold:
        return Decision.ACCEPTED
    if round < policy.max_rounds:
        return Decision.REGENERATE
    return Decision.LOW_QUALITY


@dataclass(frozen=True)
class RoutedRecord:
    """One Kafka record to write: the output role, the record key (text) and the value."""

    output: Output
    key: str | None
    value: bytes


@dataclass(frozen=True)
class Outcome:
    """Everything one input record produced, plus what the live metrics need.

    ``records[0]`` is the primary record (qa.results, qa.questions or qa.dlq); an event for
    qa.events may follow.
    """

    decision: Decision
    experiment_id: str | None
    score: float | None
    records: tuple[RoutedRecord, ...] = field(default_factory=tuple)

    def by_output(self, output: Output) -> list[RoutedRecord]:
        return [r for r in self.records if r.output is output]


def _event_id(*parts: object) -> str:
    """A stable event id: the same record scored again (a redelivery) gets the same id."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _envelope_event_id(env: Envelope, kind: str) -> str:
    return _event_id(kind, env.experiment_id, env.question_id, env.send_seq, env.round, env.attempt)


def _event_record(event: Event) -> RoutedRecord:
    return RoutedRecord(Output.EVENTS, event.experiment_id, encode(event))


def route_scored(env: Envelope, score: float, policy: EffectivePolicy, *, now: float) -> Outcome:
    """Route ``env`` (which carries an answer) scored ``score`` under ``policy``.

    ``env`` is not modified.
    """
    if not env.reference_answer.strip():
        decision = Decision.NO_REFERENCE
    else:
        decision = decide(score, env.round, policy)
    scored = env.model_copy(deep=True, update={"score": score})
    scored.record_hop(HopName.FLINK_SCORED.value, now)
    event = Event.of(
        scored,
        stage=STAGE,
        kind=EventKind.SCORED.value,
        ts=now,
        hop=HopName.FLINK_SCORED.value,
        score=score,
        scorer=policy.scorer,
        decision=decision.value,
        threshold=policy.score_threshold,
        max_rounds=policy.max_rounds,
    ).model_copy(update={"event_id": _envelope_event_id(env, EventKind.SCORED.value)})
    if decision is Decision.REGENERATE:
        out = scored.next_round()
        primary = RoutedRecord(Output.QUESTIONS, out.question_id, encode(out))
    else:
        status = (
            TerminalStatus.ACCEPTED if decision is Decision.ACCEPTED else TerminalStatus.LOW_QUALITY
        )
        out = scored.model_copy(update={"status": status})
        primary = RoutedRecord(Output.RESULTS, out.question_id, encode(out))
    return Outcome(decision, env.experiment_id, score, (primary, _event_record(event)))


def dead_letter_envelope(env: Envelope, reason: str, *, now: float) -> Outcome:
    """A valid record that cannot be scored: to qa.dlq with ``status=dead_lettered``."""
    dead = env.model_copy(
        deep=True,
        update={"status": TerminalStatus.DEAD_LETTERED, "dlq_reason": reason[:500]},
    )
    dead.record_hop(HopName.DEAD_LETTERED.value, now)
    event = Event.of(
        dead, stage=STAGE, kind=EventKind.DEAD_LETTER.value, ts=now, reason=dead.dlq_reason
    ).model_copy(update={"event_id": _envelope_event_id(env, EventKind.DEAD_LETTER.value)})
    primary = RoutedRecord(Output.DLQ, dead.question_id, encode(dead))
    return Outcome(Decision.DEAD_LETTERED, env.experiment_id, None, (primary, _event_record(event)))


def dead_letter_undecodable(
    raw: bytes | None,
    error: DecodeError,
    *,
    topic: str,
    partition: int | None,
    offset: int | None,
    key: bytes | None,
    now: float,
) -> Outcome:
    """Bytes that are not an envelope: a DeadLetter (raw bytes kept) to qa.dlq, and a
    ``dead_letter`` event when the payload still names its experiment."""
    letter = build_dead_letter(
        raw,
        reason=error,
        topic=topic,
        partition=partition,
        offset=offset,
        at=now,
        key=key,
        stage=STAGE,
    )
    letter_key = letter.kafka_key()
    records = [
        RoutedRecord(
            Output.DLQ, None if letter_key is None else letter_key.decode("utf-8"), encode(letter)
        )
    ]
    if letter.experiment_id is not None:
        event = Event(
            event_id=_event_id(
                EventKind.DEAD_LETTER.value, topic, partition, offset, letter.payload_sha256
            ),
            experiment_id=letter.experiment_id,
            question_id=letter.question_id,
            stage=STAGE,
            kind=EventKind.DEAD_LETTER.value,
            ts=now,
            attrs={"reason": letter.reason},
        )
        records.append(_event_record(event))
    return Outcome(Decision.DEAD_LETTERED, letter.experiment_id, None, tuple(records))
