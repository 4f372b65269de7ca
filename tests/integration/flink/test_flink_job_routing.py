"""The scoring job on the real cluster routes by score and policy, keeps the round limit (a test
loop plays the LLM), dead-letters what it cannot read, and emits live window metrics."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flinkjob_helpers import answer, private_topics, produce, running_job

from flink.control import ScoringJobControl, job_config
from flink.routing import Decision
from flink.scoring import get_scorer
from pipeline.messages import Answer, DeadLetter, Envelope, TerminalStatus
from pipeline.topics import TopicCatalog
from pipeline.waiting import wait_until

GOOD = "Sunlight undergoes Rayleigh scattering by air molecules"
BAD = "I really like turtles and pizza"


@pytest.fixture(scope="module")
def live(endpoints) -> Iterator[TopicCatalog]:
    """One job for the module (private topics, 1 s checkpoints and windows); each test uses
    its own experiment id."""
    with private_topics(endpoints.kafka_bootstrap) as catalog, ScoringJobControl() as control:
        config = job_config(
            catalog=catalog,
            bootstrap_servers=endpoints.kafka_bootstrap,
            checkpoint_interval_s=1.0,
            window_s=1.0,
        )
        with running_job(control, config):
            yield catalog


def test_answers_are_routed_by_score_policy_and_round(endpoints, live, reader):
    catalog, exp = live, "exp-route"
    records = [
        answer("acc", GOOD, experiment_id=exp),  # high score: accepted
        answer("back", BAD, experiment_id=exp),  # low, round 0 of 2: back
        answer("last", BAD, round=2, experiment_id=exp),  # low, no rounds left
        answer(
            "strict",
            GOOD,
            threshold=0.99,
            max_rounds=0,  # own policy: low_quality
            experiment_id=exp,
        ),
        answer("lenient", BAD, threshold=0.0, experiment_id=exp),  # own policy: accepted
    ]
    scores = dict(
        zip(
            [r.question_id for r in records],
            get_scorer("lexical").score_batch(
                [(r.answer.text, r.reference_answer) for r in records]
            ),
            strict=True,
        )
    )
    assert scores["acc"] > 0.5 > scores["back"] and scores["strict"] < 0.99
    results, questions = reader(catalog.results.name), reader(catalog.questions.name)
    dlq, events = reader(catalog.dlq.name), reader(catalog.events.name)

    produce(
        endpoints.kafka_bootstrap,
        catalog.answers.name,
        [*records, b"\xff not an envelope", b'{"question_id": "q"}'],
    )
    results.wait_for(lambda r: len(r.envelopes(exp)) >= 4, 60, "4 results")
    questions.wait_for(lambda r: len(r.envelopes(exp)) >= 1, 30, "1 question")
    dlq.wait_for(lambda r: len(r.records) >= 2, 30, "2 dead letters")
    events.wait_for(
        lambda r: (
            sum(e.attrs.get("scored", 0) for e in r.events(exp) if e.kind == "flink_window") >= 5
        ),
        30,
        "windows covering 5 answers",
    )

    by_id = {e.question_id: e for e in results.envelopes(exp)}
    assert set(by_id) == {"acc", "last", "strict", "lenient"}
    assert by_id["acc"].status is TerminalStatus.ACCEPTED
    assert by_id["acc"].score == scores["acc"]
    assert by_id["lenient"].status is TerminalStatus.ACCEPTED
    assert by_id["last"].status is TerminalStatus.LOW_QUALITY and by_id["last"].round == 2
    assert by_id["strict"].status is TerminalStatus.LOW_QUALITY
    assert all(e.hops[-1].name == "flink.scored" for e in by_id.values())
    keys = {k for v, k in results.records}
    assert {b"acc", b"last", b"strict", b"lenient"} <= keys  # keyed by question_id

    [back] = questions.envelopes(exp)
    assert (back.question_id, back.round, back.attempt, back.answer) == ("back", 1, 0, None)
    assert back.round_scores == [scores["back"]] and back.intended_at == records[1].intended_at
    assert questions.records[0][1] == b"back"  # keyed by question_id

    letters = dlq.dlq()
    assert all(isinstance(d, DeadLetter) for d in letters)
    assert sorted(d.code for d in letters) == ["invalid_encoding", "schema_violation"]
    assert all(
        d.source.topic == catalog.answers.name and d.source.offset is not None for d in letters
    )

    scored = [e for e in events.events(exp) if e.kind == "scored"]
    assert {e.question_id: e.attrs["decision"] for e in scored} == {
        "acc": "accepted",
        "back": "regenerate",
        "last": "low_quality",
        "strict": "low_quality",
        "lenient": "accepted",
    }
    windows = [e for e in events.events(exp) if e.kind == "flink_window"]
    totals = {
        k: sum(w.attrs[k] for w in windows)
        for k in ("scored", "accepted", "sent_back", "low_quality")
    }
    assert totals == {"scored": 5, "accepted": 2, "sent_back": 1, "low_quality": 2}
    assert all(w.attrs["window_end"] - w.attrs["window_start"] == 1.0 for w in windows)


def test_the_round_limit_holds_in_the_feedback_loop(endpoints, live, reader):
    """A question that always gets a bad answer comes back max_rounds times, then ends in
    qa.results as low_quality; one that improves is accepted on the round it improves."""
    catalog, exp, max_rounds = live, "exp-loop", 3
    results, questions = reader(catalog.results.name), reader(catalog.questions.name)
    events = reader(catalog.events.name)
    first = [
        answer("stuck", BAD, max_rounds=max_rounds, experiment_id=exp),
        answer("learns", BAD, max_rounds=max_rounds, experiment_id=exp),
    ]
    llm_calls: dict[str, int] = {"stuck": 1, "learns": 1}

    def fake_llm(question: Envelope) -> Envelope:
        """The LLM: a bad answer always for 'stuck'; a good one from round 2 for 'learns'."""
        text = GOOD if question.question_id == "learns" and question.round >= 2 else BAD
        return question.model_copy(update={"answer": Answer(text=text, model="test"), "attempt": 1})

    produce(endpoints.kafka_bootstrap, catalog.answers.name, first)
    seen = 0

    def both_final() -> bool:
        return len({e.question_id for e in results.envelopes(exp)}) >= 2

    def step() -> bool:  # one turn of the loop; the polls below block, so no pause between turns
        nonlocal seen
        if both_final():
            return True
        results.poll(0.2)
        questions.poll(0.2)
        fresh = questions.envelopes(exp)[seen:]
        seen += len(fresh)
        for q in fresh:  # the LLM answers every question sent back
            llm_calls[q.question_id] += 1
            produce(endpoints.kafka_bootstrap, catalog.answers.name, [fake_llm(q)])
        return both_final()

    wait_until(step, 120, pause_s=0.0, error=AssertionError,
               what="the feedback loop did not finish in time")
    # every answer scored: 4 rounds of "stuck", 3 of "learns"; a question the job wrongly sent
    # back after its last round would be written with its scored event, so it is there by now
    events.wait_for(
        lambda r: sum(1 for e in r.events(exp) if e.kind == "scored") >= 7, 30, "every scored event"
    )
    questions.poll(1.0)

    by_id = {e.question_id: e for e in results.envelopes(exp)}
    stuck, learns = by_id["stuck"], by_id["learns"]
    assert stuck.status is TerminalStatus.LOW_QUALITY
    assert stuck.round == max_rounds and len(stuck.round_scores) == max_rounds
    assert learns.status is TerminalStatus.ACCEPTED and learns.round == 2
    rounds = [(q.question_id, q.round) for q in questions.envelopes(exp)]
    assert sorted(rounds) == [
        ("learns", 1),
        ("learns", 2),
        ("stuck", 1),
        ("stuck", 2),
        ("stuck", 3),
    ]
    assert llm_calls == {"stuck": 1 + max_rounds, "learns": 3}
    decisions = [
        (e.round, e.attrs["decision"])
        for e in events.events(exp)
        if e.kind == "scored" and e.question_id == "stuck"
    ]
    assert sorted(decisions) == [
        (0, Decision.REGENERATE),
        (1, Decision.REGENERATE),
        (2, Decision.REGENERATE),
        (3, Decision.LOW_QUALITY),
    ]
    assert len(results.envelopes(exp)) == 2  # one result each, nothing more
