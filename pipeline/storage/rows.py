"""Envelopes and dead letters -> table rows (pure functions, unit-tested without a database).

Hop names written by the pipeline's services (see :mod:`pipeline.storage.hops`) are stored as a
map ``name -> [time in round 0, time in round 1, ...]`` (first occurrence per round, None where a
round has none), the shape the metrics read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.events import hops as H
from pipeline.kafka.records import Coordinates
from pipeline.messages import Attempt, AttemptStatus, DeadLetter, Envelope, TerminalStatus

STATE_RANK = {
    TerminalStatus.ACCEPTED.value: 3,
    TerminalStatus.LOW_QUALITY.value: 2,
    TerminalStatus.DEAD_LETTERED.value: 1,
    None: 0,
}

ANSWER_COLUMNS: tuple[str, ...] = (
    "experiment_id", "question_id", "send_seq", "topic", "topic_id", "question_title",
    "question_content", "reference_answer", "llm_answer", "model", "prompt_tokens",
    "completion_tokens", "score", "score_round0", "round_scores", "rounds", "max_rounds",
    "score_threshold", "scorer", "policy_ref", "attempts", "llm_calls", "failed_attempts",
    "deferrals", "terminal_state", "dlq_reason", "intended_at", "created_at", "sent_at",
    "first_attempt_at", "completed_at", "durable_at", "hops", "source_topic", "source_partition",
    "source_offset",
)

ATTEMPT_COLUMNS: tuple[str, ...] = (
    "experiment_id", "question_id", "round", "number", "status", "error_class", "http_status",
    "started_at", "ended_at", "delay_s", "deferred", "tier", "delay_before_s", "tier_wait_s",
    "detail",
)

DEAD_LETTER_COLUMNS: tuple[str, ...] = (
    "record_topic", "record_partition", "record_offset", "kind", "reason", "code", "stage",
    "experiment_id", "question_id", "source_topic", "source_partition", "source_offset",
    "source_key", "payload", "payload_encoding", "payload_size", "payload_sha256",
    "payload_truncated", "dead_lettered_at", "durable_at",
)

TierOf = Callable[[float], str]


def hop_map(env: Envelope) -> dict[str, list[float | None]]:
    """``{name: [t_round0, t_round1, ...]}``, first occurrence per round."""
    out: dict[str, list[float | None]] = {}
    for hop in env.hops:
        times = out.setdefault(hop.name, [])
        if len(times) <= hop.round:
            times.extend([None] * (hop.round + 1 - len(times)))
        if times[hop.round] is None:
            times[hop.round] = hop.at
    return out


def answer_row(env: Envelope, coords: Coordinates, *, durable_at: float) -> dict[str, Any]:
    """The answers row of a terminal envelope (from qa.results or qa.dlq)."""
    scores = [*env.round_scores, *([] if env.score is None else [env.score])]
    sent = env.hop_time(H.GENERATOR_SENT, 0)
    if sent is None:
        sent = next((h.at for h in env.hops if h.name == H.GENERATOR_SENT), None)
    completed = max((h.at for h in env.hops), default=env.created_at)
    answer = env.answer
    return {
        "experiment_id": env.experiment_id,
        "question_id": env.question_id,
        "send_seq": env.send_seq,
        "topic": env.topic,
        "topic_id": env.topic_id,
        "question_title": env.question.title,
        "question_content": env.question.content,
        "reference_answer": env.reference_answer,
        "llm_answer": answer.text if answer else None,
        "model": answer.model if answer else None,
        "prompt_tokens": answer.prompt_tokens if answer else None,
        "completion_tokens": answer.completion_tokens if answer else None,
        "score": env.score,
        "score_round0": scores[0] if scores else None,
        "round_scores": json.dumps(scores),
        "rounds": env.round,
        "max_rounds": env.policy.max_rounds,
        "score_threshold": env.policy.score_threshold,
        "scorer": env.policy.scorer,
        "policy_ref": env.policy.ref,
        "attempts": env.attempt,
        "llm_calls": len(env.attempts),
        "failed_attempts": sum(a.status is AttemptStatus.ERROR for a in env.attempts),
        "deferrals": sum(h.name == H.WORKER_DEFERRED for h in env.hops),
        "terminal_state": env.status.value if env.status else None,
        "dlq_reason": env.dlq_reason,
        "intended_at": env.intended_at,
        "created_at": env.created_at,
        "sent_at": sent,
        "first_attempt_at": env.attempts[0].started_at if env.attempts else None,
        "completed_at": completed,
        "durable_at": durable_at,
        "hops": json.dumps(hop_map(env)),
        "source_topic": coords.topic,
        "source_partition": coords.partition,
        "source_offset": coords.offset,
    }


def answer_row_for_dead_letter(letter: DeadLetter, coords: Coordinates, *,
                               durable_at: float) -> dict[str, Any] | None:
    """A dead-lettered answers row for raw bytes whose ids were recoverable, else None."""
    if not (letter.experiment_id and letter.question_id):
        return None
    row = dict.fromkeys(ANSWER_COLUMNS)
    row.update(
        experiment_id=letter.experiment_id, question_id=letter.question_id,
        question_title="", question_content="", reference_answer="", round_scores="[]",
        rounds=0, attempts=0, llm_calls=0, failed_attempts=0, deferrals=0,
        terminal_state=TerminalStatus.DEAD_LETTERED.value, dlq_reason=letter.reason,
        completed_at=letter.at, durable_at=durable_at, hops="{}",
        source_topic=coords.topic, source_partition=coords.partition, source_offset=coords.offset,
    )
    return row


def precedence(row: dict[str, Any]) -> tuple[int, int, float]:
    """Which of two rows for one question wins (the larger), as the SQL upsert decides."""
    return (STATE_RANK.get(row["terminal_state"], 0), row["rounds"] or 0, row["completed_at"] or 0.0)


def _deferral_times(env: Envelope, round_: int) -> list[float]:
    return sorted(h.at for h in env.hops if h.name == H.WORKER_DEFERRED and h.round == round_)


def attempt_rows(env: Envelope, tier_of: TierOf) -> list[dict[str, Any]]:
    """One row per LLM attempt in the envelope's history, with the wait before each attempt
    split into in-worker backoff (``delay_before_s``) and retry-tier time (``tier_wait_s``).

    An attempt counts as deferred when a ``worker.deferred`` hop of its round lies between its
    end and the next attempt's start; its tier is the one the worker chose for its delay.
    """
    rows: list[dict[str, Any]] = []
    by_round: dict[int, list[Attempt]] = {}
    for a in env.attempts:
        by_round.setdefault(a.round, []).append(a)
    for round_, attempts in sorted(by_round.items()):
        deferrals = _deferral_times(env, round_)
        prev: Attempt | None = None
        prev_deferred_at: float | None = None
        for i, a in enumerate(attempts):
            nxt = attempts[i + 1].started_at if i + 1 < len(attempts) else float("inf")
            deferred_at = next((t for t in deferrals if a.ended_at <= t <= nxt), None)
            deferred = deferred_at is not None and a.status is AttemptStatus.ERROR
            delay_before = tier_wait = 0.0
            if prev is not None:
                if prev_deferred_at is not None:
                    tier_wait = max(0.0, a.started_at - prev_deferred_at)
                else:
                    delay_before = prev.delay_s or 0.0
            rows.append({
                "experiment_id": env.experiment_id,
                "question_id": env.question_id,
                "round": a.round,
                "number": a.number,
                "status": a.status.value,
                "error_class": a.error_class.value if a.error_class else None,
                "http_status": a.http_status,
                "started_at": a.started_at,
                "ended_at": a.ended_at,
                "delay_s": a.delay_s,
                "deferred": deferred,
                "tier": tier_of(a.delay_s or 0.0) if deferred else None,
                "delay_before_s": delay_before,
                "tier_wait_s": tier_wait,
                "detail": a.detail,
            })
            prev, prev_deferred_at = a, (deferred_at if deferred else None)
    return rows


def _is_dead_hop(name: str) -> bool:
    return name == H.DEAD_LETTERED or name.endswith("." + H.DEAD_LETTERED)


def _stage_of(env: Envelope) -> str | None:
    """The stage that dead-lettered ``env``: the stage of the hop before the dead-letter hop."""
    for i in range(len(env.hops) - 1, -1, -1):
        if _is_dead_hop(env.hops[i].name):
            name = env.hops[i].name if "." in env.hops[i].name else (
                env.hops[i - 1].name if i > 0 else "")
            return name.split(".", 1)[0] or None
    return None


def dead_letter_row_for_envelope(env: Envelope, raw: bytes, coords: Coordinates, *,
                                 durable_at: float, max_payload_bytes: int) -> dict[str, Any]:
    text = raw[:max_payload_bytes].decode("utf-8", errors="ignore")
    reason = env.dlq_reason or "unknown"
    dead_at = next((h.at for h in reversed(env.hops) if _is_dead_hop(h.name)),
                   max((h.at for h in env.hops), default=env.created_at))
    return {
        "record_topic": coords.topic, "record_partition": coords.partition,
        "record_offset": coords.offset, "kind": "envelope", "reason": reason,
        "code": reason.split(":", 1)[0].strip(), "stage": _stage_of(env),
        "experiment_id": env.experiment_id, "question_id": env.question_id,
        "source_topic": None, "source_partition": None, "source_offset": None,
        "source_key": env.question_id, "payload": text, "payload_encoding": "text",
        "payload_size": len(raw), "payload_sha256": hashlib.sha256(raw).hexdigest(),
        "payload_truncated": len(raw) > max_payload_bytes, "dead_lettered_at": dead_at,
        "durable_at": durable_at,
    }


def dead_letter_row(letter: DeadLetter, coords: Coordinates, *, durable_at: float) -> dict[str, Any]:
    """A raw dead letter; ``coords`` is where storage read it (qa.dlq, or the poisoned topic)."""
    return {
        "record_topic": coords.topic, "record_partition": coords.partition,
        "record_offset": coords.offset, "kind": "raw", "reason": letter.reason,
        "code": letter.code, "stage": letter.stage, "experiment_id": letter.experiment_id,
        "question_id": letter.question_id, "source_topic": letter.source.topic,
        "source_partition": letter.source.partition, "source_offset": letter.source.offset,
        "source_key": letter.source.key, "payload": letter.payload,
        "payload_encoding": letter.payload_encoding, "payload_size": letter.payload_size,
        "payload_sha256": letter.payload_sha256, "payload_truncated": letter.payload_truncated,
        "dead_lettered_at": letter.at, "durable_at": durable_at,
    }


@dataclass
class RowSet:
    """Everything one storage batch writes, deduplicated per key (best outcome kept)."""

    answers: dict[tuple[str, str], dict[str, Any]]
    attempts: dict[tuple[str, str], list[dict[str, Any]]]
    dead_letters: dict[tuple[str, int, int, str], dict[str, Any]]

    @classmethod
    def empty(cls) -> RowSet:
        return cls({}, {}, {})

    def add_answer(self, row: dict[str, Any], attempts: list[dict[str, Any]] | None) -> None:
        key = (row["experiment_id"], row["question_id"])
        old = self.answers.get(key)
        if old is None or precedence(row) >= precedence(old):
            self.answers[key] = row
            self.attempts[key] = attempts or []

    def add_dead_letter(self, row: dict[str, Any]) -> None:
        key = (row["record_topic"], row["record_partition"], row["record_offset"],
               row["payload_sha256"])
        self.dead_letters[key] = row
