"""The lexical scorer: normalisation, monotonicity in word overlap, speed floor."""

from __future__ import annotations

import itertools

import pytest

from flink.scoring import LexicalScorer, get_scorer
from flink.scoring.lexical import terms

REFERENCE = "Restart the router, then reinstall the network driver and check the cables."


@pytest.fixture()
def lexical() -> LexicalScorer:
    scorer = get_scorer("lexical")
    assert isinstance(scorer, LexicalScorer)
    return scorer


def test_score_rises_with_each_shared_word(lexical: LexicalScorer) -> None:
    shared = ["restart", "router", "reinstall", "network", "driver", "check", "cables"]
    answer = ["maybe", "wait"]
    scores = [lexical.score(" ".join(answer), REFERENCE)]
    for word in shared:
        answer.append(word)
        scores.append(lexical.score(" ".join(answer), REFERENCE))
    assert scores[0] == 0.0
    assert all(b > a for a, b in itertools.pairwise(scores)), scores


def test_score_falls_with_each_unshared_word(lexical: LexicalScorer) -> None:
    answer = ["restart", "router", "driver"]
    scores = [lexical.score(" ".join(answer), REFERENCE)]
    for word in ["banana", "orbit", "violin", "glacier"]:
        answer.append(word)
        scores.append(lexical.score(" ".join(answer), REFERENCE))
    assert all(b < a for a, b in itertools.pairwise(scores)), scores


def test_normalisation_case_accents_punctuation_plurals(lexical: LexicalScorer) -> None:
    assert lexical.score("CRÈME BRÛLÉE!!!", "creme brulee") == 1.0
    assert lexical.score("cats, dogs; berries.", "The cat and the dog, with a berry") == 1.0
    assert lexical.score("It's the network", "network") == 1.0  # stop-words and "s" ignored


def test_stopword_only_texts_still_compare(lexical: LexicalScorer) -> None:
    assert lexical.score("Yes.", "yes") == 1.0
    assert lexical.score("it is what it is", "It is what it is!") == 1.0
    assert lexical.score("not", "no") == 0.0  # negations are content, and different


def test_empty_and_unrelated_score_zero(lexical: LexicalScorer) -> None:
    assert lexical.score("", REFERENCE) == 0.0
    assert lexical.score("...", "") == 0.0
    assert lexical.score("Quantum entanglement of photons", REFERENCE) == 0.0


def test_scores_bounded_and_symmetric(lexical: LexicalScorer) -> None:
    a, b = "router driver cables banana", REFERENCE
    assert 0.0 < lexical.score(a, b) < 1.0
    assert lexical.score(a, b) == pytest.approx(lexical.score(b, a))


def test_options_change_terms() -> None:
    assert "the" in terms("the cats", stopwords=False)
    assert "cats" in terms("the cats", stem=False)
    assert terms("the cats") == frozenset({"cat"})


def test_reference_terms_are_cached(lexical: LexicalScorer) -> None:
    lexical.score_batch([("a", REFERENCE), ("b", REFERENCE), ("c", "other")])
    info = lexical.cache_info()
    assert (info.hits, info.misses, info.size) == (1, 2, 2)
