"""The scoring operator's body: decode, score in one batch per scorer, route; nothing a record
contains fails the batch."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from flink.processor import AnswerProcessor, SourceRecord
from flink.routing import Decision, Output, PolicyDefaults
from flink.scoring import ModelLoadError, UnknownScorerError, get_scorer
from pipeline.messages import Envelope, decode, decode_dlq_record, decode_event, encode

NOW = 1_718_000_500.0
REFERENCE = "Sunlight is scattered by air molecules: Rayleigh scattering."


class FakeScorer:
    """Scores by a table of answer texts; raises on 'boom'; NaN on 'nan'."""

    def __init__(self, name: str, table: dict[str, float]) -> None:
        self.name = name
        self.table = table
        self.calls: list[list[tuple[str, str]]] = []
        self.loaded = False

    def load(self) -> None:
        self.loaded = True

    def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        self.calls.append(list(pairs))
        if any(a == "boom" for a, _ in pairs):
            raise RuntimeError("scorer crashed")
        return [math.nan if a == "nan" else self.table.get(a, 0.0) for a, _ in pairs]


class Factory:
    def __init__(self, **scorers: FakeScorer) -> None:
        self.scorers = scorers
        self.created: list[tuple[str, dict]] = []

    def __call__(self, name: str, **params):
        self.created.append((name, params))
        if name not in self.scorers:
            raise UnknownScorerError(name, sorted(self.scorers))
        return self.scorers[name]


def record(env: Envelope | bytes | None, offset: int = 0) -> SourceRecord:
    """The record as a producer that states only what it sets would write it (a record built
    and encoded with pipeline.messages carries the policy defaults explicitly)."""
    value = (
        env.model_dump_json(exclude_none=True, exclude_unset=True).encode()
        if isinstance(env, Envelope)
        else env
    )
    return SourceRecord(value=value, key=b"k", partition=1, offset=offset)


def processor(factory, **kw) -> AnswerProcessor:
    kw.setdefault("defaults", PolicyDefaults(0.5, 1, "fast"))
    return AnswerProcessor(
        source_topic="qa.answers", scorer_factory=factory, clock=lambda: NOW, **kw
    )


def test_a_mixed_batch_is_scored_once_per_scorer_and_routed_in_order(make_env):
    fast = FakeScorer("fast", {"good": 0.9, "bad": 0.1})
    slow = FakeScorer("slow", {"good": 0.6})
    proc = processor(Factory(fast=fast, slow=slow))
    proc.load()
    assert fast.loaded and not slow.loaded
    batch = [
        record(make_env(answer="good", question_id="a")),
        record(make_env(answer="bad", question_id="b")),
        record(make_env(answer="good", question_id="c", policy={"scorer": "slow"})),
        record(make_env(answer="bad", question_id="d", round=1)),
        record(b"not json", offset=9),
    ]
    outcomes = proc.process(batch)
    assert [o.decision for o in outcomes] == [
        Decision.ACCEPTED,
        Decision.REGENERATE,
        Decision.ACCEPTED,
        Decision.LOW_QUALITY,
        Decision.DEAD_LETTERED,
    ]
    assert [o.score for o in outcomes] == [0.9, 0.1, 0.6, 0.1, None]
    assert len(fast.calls) == 1 and len(fast.calls[0]) == 3
    assert fast.calls[0][0] == ("good", REFERENCE)
    assert len(slow.calls) == 1 and slow.loaded
    sent_back = decode(outcomes[1].by_output(Output.QUESTIONS)[0].value)
    assert sent_back.round == 1 and sent_back.hops[-1].at == NOW
    letter = decode_dlq_record(outcomes[4].records[0].value)
    assert letter.reason == "invalid_json" and letter.source.offset == 9
    assert letter.source.partition == 1 and letter.source.topic == "qa.answers"


def test_scorer_params_reach_the_factory_once_per_scorer(make_env):
    factory = Factory(fast=FakeScorer("fast", {}))
    proc = processor(factory, scorer_params={"fast": {"threads": 2}})
    proc.process([record(make_env())])
    proc.process([record(make_env())])
    assert factory.created == [("fast", {"threads": 2})]


def test_unknown_scorer_dead_letters_its_records_and_is_not_retried(make_env):
    factory = Factory(fast=FakeScorer("fast", {}))
    proc = processor(factory)
    for _ in range(2):
        [outcome] = proc.process([record(make_env(policy={"scorer": "nope"}))])
        assert outcome.decision is Decision.DEAD_LETTERED
        dead = decode_dlq_record(outcome.by_output(Output.DLQ)[0].value)
        assert dead.dlq_reason == "unknown_scorer: nope"
    assert [name for name, _ in factory.created].count("nope") == 1


def test_an_unloadable_non_default_scorer_dead_letters_its_records(make_env):
    class Broken(FakeScorer):
        def load(self) -> None:
            raise ModelLoadError("weights missing")

    proc = processor(Factory(fast=FakeScorer("fast", {}), heavy=Broken("heavy", {})))
    [outcome] = proc.process([record(make_env(policy={"scorer": "heavy"}))])
    dead = decode_dlq_record(outcome.records[0].value)
    assert dead.dlq_reason == "scorer_unavailable: heavy"


def test_an_unloadable_default_scorer_fails_at_load():
    class Broken(FakeScorer):
        def load(self) -> None:
            raise ModelLoadError("weights missing")

    with pytest.raises(ModelLoadError):
        processor(Factory(fast=Broken("fast", {}))).load()


def test_a_record_the_scorer_fails_on_is_isolated(make_env):
    fast = FakeScorer("fast", {"good": 0.9})
    proc = processor(Factory(fast=fast))
    outcomes = proc.process(
        [
            record(make_env(answer="good", question_id="a")),
            record(make_env(answer="boom", question_id="b")),
            record(make_env(answer="nan", question_id="c")),
            record(make_env(answer="good", question_id="d")),
        ]
    )
    assert [o.decision for o in outcomes] == [
        Decision.ACCEPTED,
        Decision.DEAD_LETTERED,
        Decision.DEAD_LETTERED,
        Decision.ACCEPTED,
    ]
    reasons = [decode_dlq_record(o.records[0].value).dlq_reason for o in outcomes[1:3]]
    assert reasons == ["scoring_failed: fast", "scoring_failed: fast"]


def test_a_record_without_answer_is_dead_lettered(make_env):
    proc = processor(Factory(fast=FakeScorer("fast", {})))
    [outcome] = proc.process([record(make_env(answer=None))])
    assert decode_dlq_record(outcome.records[0].value).dlq_reason == "missing_answer"


def test_with_the_real_lexical_scorer(make_env):
    proc = AnswerProcessor(
        source_topic="qa.answers", defaults=PolicyDefaults(0.5, 2, "lexical"), clock=lambda: NOW
    )
    proc.load()
    answers = [REFERENCE, "Because of Rayleigh scattering.", "I like turtles."]
    outcomes = proc.process(
        [record(make_env(answer=a, question_id=str(i))) for i, a in enumerate(answers)]
    )
    expected = get_scorer("lexical").score_batch([(a, REFERENCE) for a in answers])
    assert [o.score for o in outcomes] == expected
    assert expected[0] == 1.0 and expected[2] == 0.0
    assert outcomes[0].decision is Decision.ACCEPTED
    assert outcomes[2].decision is Decision.REGENERATE
    event = decode_event(outcomes[2].by_output(Output.EVENTS)[0].value)
    assert event.attrs["scorer"] == "lexical" and event.attrs["threshold"] == 0.5


def test_a_record_encoded_with_the_model_defaults_uses_them_not_the_jobs(make_env):
    proc = processor(
        Factory(fast=FakeScorer("fast", {"x": 0.4}), lexical=FakeScorer("lexical", {"x": 0.4}))
    )
    [outcome] = proc.process([SourceRecord(value=encode(make_env(answer="x")))])
    event = decode_event(outcome.by_output(Output.EVENTS)[0].value)
    # encode() writes the policy in full (threshold 0.3, lexical): the record states them
    assert (event.attrs["scorer"], event.attrs["threshold"]) == ("lexical", 0.3)
    assert outcome.decision is Decision.ACCEPTED
