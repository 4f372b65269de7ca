"""Scorer registry: names, parameter validation, environment defaults, the protocol."""

from __future__ import annotations

import pytest

from flink.scoring import (
    LexicalScorer,
    MiniLMScorer,
    Scorer,
    ScorerConfigError,
    ScoringError,
    ScoringSettings,
    UnknownScorerError,
    available_scorers,
    get_scorer,
    scorer_options,
)


def test_available_names() -> None:
    assert available_scorers() == ["lexical", "minilm"]


@pytest.mark.parametrize("name", ["lexical", "minilm"])
def test_scorers_follow_the_protocol(name: str) -> None:
    scorer = get_scorer(name)
    assert isinstance(scorer, Scorer)
    assert scorer.name == name


def test_unknown_name_is_named_in_the_error() -> None:
    with pytest.raises(UnknownScorerError) as info:
        get_scorer("bleurt")
    message = str(info.value)
    assert "'bleurt'" in message and "lexical" in message and "minilm" in message
    assert isinstance(info.value, KeyError) and isinstance(info.value, ScoringError)
    with pytest.raises(UnknownScorerError, match="bleurt"):
        scorer_options("bleurt")


def test_bad_parameters_name_scorer_and_parameter() -> None:
    with pytest.raises(ScorerConfigError, match=r"'minilm'.*batch_sise"):
        get_scorer("minilm", batch_sise=8)
    with pytest.raises(ScorerConfigError, match=r"'minilm'.*threads"):
        get_scorer("minilm", threads=-1)
    with pytest.raises(ScorerConfigError, match=r"'lexical'.*threads"):
        get_scorer("lexical", threads=2)  # a minilm parameter given to the wrong scorer


def test_parameters_override_settings_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_SCORING_MINILM__BATCH_SIZE", "4")
    monkeypatch.setenv("HARNESS_SCORING_MINILM__THREADS", "2")
    monkeypatch.setenv("HARNESS_SCORING_LEXICAL__STOPWORDS", "false")
    from_env = get_scorer("minilm")
    assert isinstance(from_env, MiniLMScorer)
    assert (from_env.options.batch_size, from_env.options.threads) == (4, 2)
    assert from_env.encoder.batch_size == 4 and from_env.encoder.threads == 2
    overridden = get_scorer("minilm", batch_size=16)
    assert isinstance(overridden, MiniLMScorer)
    assert (overridden.options.batch_size, overridden.options.threads) == (16, 2)
    lexical = get_scorer("lexical")
    assert isinstance(lexical, LexicalScorer) and lexical.options.stopwords is False

    explicit = get_scorer("minilm", settings=ScoringSettings())
    assert isinstance(explicit, MiniLMScorer) and explicit.options.batch_size == 4
