"""Per-question derived times: end-to-end latency and its split into hops (the waterfall).

The waterfall splits a question's end-to-end time (intended send -> durable write) into:

- ``producer_send``: intended send -> Kafka acknowledged the question (coordinated-omission lag included);
  the acknowledgement is stamped when the generator's client reports it, which under load can be
  after a worker already took the record, so the send ends at the earlier of the two (the record
  was in Kafka by then) and the hops do not overlap;
- ``queue_wait``: per round, record on qa.questions -> first LLM attempt of that round;
- ``backoff``: in-worker backoff slept before attempts;
- ``llm``: time inside LLM calls (all attempts, all rounds);
- ``retry_tier``: deferral to a retry tier -> the next attempt (tier topic, relay, re-queue);
- ``scoring``: per round, answer produced -> Flink scored it;
- ``storage``: final scoring (or qa.results) -> durable write;
- ``other``: the remainder (regeneration hand-off, transport, worker overhead, hops without
  telemetry). The parts always sum to the end-to-end time, so the mean waterfall adds up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from experiments.metrics.model import LlmAttempt, QuestionOutcome, RunData
from experiments.metrics.steady import SteadyWindow

WATERFALL_PARTS: tuple[str, ...] = (
    "producer_send",
    "queue_wait",
    "backoff",
    "llm",
    "retry_tier",
    "scoring",
    "storage",
    "other",
)

ANSWERED_STATES = frozenset({"accepted", "low_quality"})


@dataclass
class QuestionTimes:
    """One question with its derived durations (seconds); the per-question CSV is made of these."""

    question_id: str
    state: str
    dlq_reason: str | None
    cache_hit: bool
    steady: bool
    intended_s: float  # relative to the start of the load
    durable_s: float | None  # relative to the start of the load
    e2e_s: float | None
    from_first_attempt_s: float | None
    producer_send_s: float | None
    rounds: int
    llm_calls: int
    failed_attempts: int
    score_round0: float | None
    score_final: float | None
    access_count: int
    parts: dict[str, float] = field(default_factory=dict)
    tier_waits: dict[str, float] = field(default_factory=dict)
    error_classes: tuple[str, ...] = ()

    @property
    def answered(self) -> bool:
        return self.state in ANSWERED_STATES

    @property
    def on_llm_path(self) -> bool:
        """Answered through the LLM (not served from the cache)."""
        return self.answered and not self.cache_hit

    def row(self) -> dict[str, object]:
        """A flat dict for the CSV."""
        data = asdict(self)
        parts = data.pop("parts")
        data.pop("tier_waits")
        data["error_classes"] = ";".join(self.error_classes)
        for name in WATERFALL_PARTS:
            data[f"{name}_s"] = parts.get(name)
        return data


def group_attempts(attempts: Sequence[LlmAttempt]) -> dict[str, list[LlmAttempt]]:
    by_question: dict[str, list[LlmAttempt]] = defaultdict(list)
    for attempt in attempts:
        by_question[attempt.question_id].append(attempt)
    for items in by_question.values():
        items.sort(key=lambda a: (a.round, a.started_at, a.attempt))
    return by_question


def _hop(q: QuestionOutcome, name: str, rnd: int) -> float | None:
    values = q.hops.get(name)
    if not values or rnd >= len(values) or rnd < 0:
        return None
    return values[rnd]


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _picked_up(attempt: LlmAttempt) -> float:
    """When the worker took the attempt's record: its start less the waits before it."""
    return attempt.started_at - attempt.delay_before_s - attempt.tier_wait_s


def _in_kafka_at(q: QuestionOutcome, attempts: Sequence[LlmAttempt]) -> float | None:
    """When the question's first record was in Kafka: the generator's acknowledgement, or the
    first worker's pick-up of it if that came first (the acknowledgement is stamped when the
    generator's client gets round to reporting it)."""
    sent0 = q.sent_at if q.sent_at is not None else _hop(q, "sent", 0)
    round0 = [a for a in attempts if a.round == 0]
    if sent0 is None or not round0:
        return sent0
    return min(sent0, min(_picked_up(a) for a in round0))


def _waterfall(
    q: QuestionOutcome, attempts: list[LlmAttempt], e2e: float, sent0: float | None
) -> dict[str, float]:
    """``sent0``: when the question's first record was in Kafka (:func:`_in_kafka_at`)."""
    parts = dict.fromkeys(WATERFALL_PARTS, 0.0)
    parts["producer_send"] = max(0.0, sent0 - q.intended_at) if sent0 is not None else 0.0
    rounds: dict[int, list[LlmAttempt]] = defaultdict(list)
    for a in attempts:
        rounds[a.round].append(a)
        parts["backoff"] += max(0.0, a.delay_before_s)
        parts["retry_tier"] += max(0.0, a.tier_wait_s)
        parts["llm"] += max(0.0, a.ended_at - a.started_at)
    last_round = max([q.rounds, *rounds.keys()])
    for rnd in range(last_round + 1):
        in_round = rounds.get(rnd, [])
        sent = sent0 if rnd == 0 else _hop(q, "sent", rnd)
        if in_round and sent is not None:
            wait = _picked_up(in_round[0]) - sent
            parts["queue_wait"] += max(0.0, wait)
        answered = _hop(q, "answered", rnd)
        if answered is None:
            oks = [a.ended_at for a in in_round if a.status == "ok"]
            answered = oks[-1] if oks else None
        scoring = _minus(_hop(q, "scored", rnd), answered)
        if scoring is not None:
            parts["scoring"] += max(0.0, scoring)
    final_mark = _hop(q, "result", q.rounds)
    if final_mark is None:
        final_mark = _hop(q, "scored", q.rounds)
    storage = _minus(q.durable_at, final_mark)
    if storage is not None:
        parts["storage"] = max(0.0, storage)
    parts["other"] = e2e - sum(v for k, v in parts.items() if k != "other")
    return parts


def derive(run: RunData, window: SteadyWindow) -> list[QuestionTimes]:
    """Derive :class:`QuestionTimes` for every question of ``run`` (steady or not)."""
    by_question = group_attempts(run.attempts)
    t0 = run.meta.started_at
    out: list[QuestionTimes] = []
    for q in run.questions:
        attempts = [] if q.cache_hit else by_question.get(q.question_id, [])
        first = q.first_attempt_at
        if first is None and attempts:
            first = min(a.started_at for a in attempts)
        e2e = _minus(q.durable_at, q.intended_at) if q.state != "in_flight" else None
        sent0 = _in_kafka_at(q, attempts)
        parts: dict[str, float] = {}
        if e2e is not None and not q.cache_hit and q.state in ANSWERED_STATES:
            parts = _waterfall(q, attempts, e2e, sent0)
        tier_waits: dict[str, float] = defaultdict(float)
        for a in attempts:
            if a.tier_wait_s > 0:
                tier_waits[a.tier or "unnamed"] += a.tier_wait_s
        classes = tuple(
            sorted({a.error_class or "unknown" for a in attempts if a.status == "error"})
        )
        out.append(
            QuestionTimes(
                question_id=q.question_id,
                state=q.state,
                dlq_reason=q.dlq_reason,
                cache_hit=q.cache_hit,
                steady=window.contains(q.intended_at),
                intended_s=q.intended_at - t0,
                durable_s=_minus(q.durable_at, t0),
                e2e_s=e2e,
                from_first_attempt_s=_minus(q.durable_at, first) if e2e is not None else None,
                producer_send_s=_minus(sent0, q.intended_at),
                rounds=q.rounds,
                llm_calls=q.llm_calls if q.llm_calls or not attempts else len(attempts),
                failed_attempts=q.failed_attempts
                if q.failed_attempts or not attempts
                else sum(a.status == "error" for a in attempts),
                score_round0=q.score_round0,
                score_final=q.score_final,
                access_count=q.access_count,
                parts=parts,
                tier_waits=dict(tier_waits),
                error_classes=classes,
            )
        )
    return out
