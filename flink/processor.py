"""Decode, score and route a batch of qa.answers records: the body of the Flink job's scoring
operator, as plain Python (the job file only wires it into Flink).

One processor serves every experiment: each record names its scorer (``policy.scorer``, else
the job's default), and the processor keeps one scorer instance per name, created on first use
(the default one in :meth:`AnswerProcessor.load`, i.e. in the Flink function's ``open()``).
A batch is scored with one ``score_batch`` call per scorer.

Nothing a record contains can fail the job: undecodable bytes, a missing answer, an unknown or
unusable scorer, or a scorer error on one record all become dead letters with a reason. Only a
default scorer that cannot load fails (in ``load()``, i.e. at job start).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flink.routing import (
    EffectivePolicy,
    Outcome,
    PolicyDefaults,
    dead_letter_envelope,
    dead_letter_undecodable,
    effective_policy,
    route_scored,
)
from flink.scoring import Scorer, ScoringError, UnknownScorerError, get_scorer
from pipeline.messages import DecodeError, Envelope, decode

log = logging.getLogger(__name__)

__all__ = ["AnswerProcessor", "SourceRecord"]

ScorerFactory = Callable[..., Scorer]


@dataclass(frozen=True)
class SourceRecord:
    """One consumed qa.answers record (coordinates are for dead letters; any may be None)."""

    value: bytes | None
    key: bytes | None = None
    partition: int | None = None
    offset: int | None = None


@dataclass
class _Pending:
    index: int
    env: Envelope
    policy: EffectivePolicy


class AnswerProcessor:
    """``process(records) -> outcomes`` (one :class:`~flink.routing.Outcome` per record, in
    order). Not thread-safe: call from one thread at a time (the job uses one scoring thread).
    """

    def __init__(
        self,
        *,
        source_topic: str,
        defaults: PolicyDefaults | None = None,
        scorer_params: Mapping[str, Mapping[str, Any]] | None = None,
        scorer_factory: ScorerFactory = get_scorer,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source_topic = source_topic
        self.defaults = defaults or PolicyDefaults()
        self.scorer_params = {k: dict(v) for k, v in (scorer_params or {}).items()}
        self._factory = scorer_factory
        self._clock = clock
        self._scorers: dict[str, Scorer] = {}
        self._unusable: dict[str, str] = {}  # scorer name -> dead-letter reason

    def load(self) -> None:
        """Create and load the default scorer (raises if it cannot be used)."""
        self._scorer(self.defaults.scorer)

    def _scorer(self, name: str) -> Scorer:
        scorer = self._scorers.get(name)
        if scorer is None:
            scorer = self._factory(name, **self.scorer_params.get(name, {}))
            scorer.load()
            self._scorers[name] = scorer
            log.info("scorer %r loaded", name)
        return scorer

    def _scorer_or_reason(self, name: str) -> Scorer | str:
        """The scorer, or the dead-letter reason for records that ask for it."""
        if name in self._unusable:
            return self._unusable[name]
        try:
            return self._scorer(name)
        except UnknownScorerError:
            reason = f"unknown_scorer: {name}"
        except ScoringError as exc:  # bad parameters, or model files missing
            log.error("scorer %r cannot be used; its records are dead-lettered: %s", name, exc)
            reason = f"scorer_unavailable: {name}"
        self._unusable[name] = reason
        return reason

    def process(self, records: Sequence[SourceRecord]) -> list[Outcome]:
        now = self._clock()
        outcomes: list[Outcome | None] = [None] * len(records)
        by_scorer: dict[str, list[_Pending]] = {}
        for index, record in enumerate(records):
            try:
                env = decode(record.value)
            except DecodeError as exc:
                log.warning(
                    "undecodable record %s[%s]@%s: %s",
                    self.source_topic,
                    record.partition,
                    record.offset,
                    exc.reason,
                )
                outcomes[index] = dead_letter_undecodable(
                    record.value,
                    exc,
                    topic=self.source_topic,
                    partition=record.partition,
                    offset=record.offset,
                    key=record.key,
                    now=now,
                )
                continue
            if env.answer is None:
                outcomes[index] = dead_letter_envelope(env, "missing_answer", now=now)
                continue
            policy = effective_policy(env, self.defaults)
            scorer = self._scorer_or_reason(policy.scorer)
            if isinstance(scorer, str):
                outcomes[index] = dead_letter_envelope(env, scorer, now=now)
                continue
            by_scorer.setdefault(policy.scorer, []).append(_Pending(index, env, policy))
        for name, pending in by_scorer.items():
            scores = self._score(self._scorers[name], pending)
            for item, score in zip(pending, scores, strict=True):
                if isinstance(score, str):
                    outcomes[item.index] = dead_letter_envelope(item.env, score, now=now)
                else:
                    outcomes[item.index] = route_scored(item.env, score, item.policy, now=now)
        done = [o for o in outcomes if o is not None]
        assert len(done) == len(records), "every record has an outcome"
        return done

    def _score(self, scorer: Scorer, pending: list[_Pending]) -> list[float | str]:
        """Scores in order; a record the scorer fails on gets a dead-letter reason instead."""
        pairs = [(p.env.answer.text, p.env.reference_answer) for p in pending]  # type: ignore[union-attr]
        try:
            scores = list(scorer.score_batch(pairs))
            if len(scores) != len(pairs) or not all(math.isfinite(s) for s in scores):
                raise ValueError(f"{len(scores)} scores for {len(pairs)} pairs, or not finite")
            return list(scores)
        except Exception:
            if len(pairs) == 1:
                log.exception(
                    "scorer %r failed on %s/%s",
                    scorer.name,
                    pending[0].env.experiment_id,
                    pending[0].env.question_id,
                )
                return [f"scoring_failed: {scorer.name}"]
            log.warning(
                "scorer %r failed on a batch of %d; scoring one by one", scorer.name, len(pairs)
            )
        return [s for p in pending for s in self._score(scorer, [p])]
