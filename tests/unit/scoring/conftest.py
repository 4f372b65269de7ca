"""Shared fixtures for the scoring tests: the sentence-transformers reference data and one
loaded MiniLM scorer per session (loading reads ~90 MB of weights, about 0.3 s)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flink.scoring import MiniLMScorer, get_scorer

FIXTURE = Path(__file__).parent / "fixtures" / "minilm_reference.json"


@pytest.fixture(scope="session")
def st_reference() -> dict[str, Any]:
    """Embeddings and cosines computed by sentence-transformers (see fixtures/make_minilm_fixture.py)."""
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def loaded_minilm() -> MiniLMScorer:
    scorer = get_scorer("minilm", batch_size=8)
    assert isinstance(scorer, MiniLMScorer)
    scorer.load()
    return scorer


@pytest.fixture()
def fresh_minilm(loaded_minilm: MiniLMScorer) -> MiniLMScorer:
    """A MiniLM scorer with an empty cache and zeroed counters, sharing the loaded weights."""
    return MiniLMScorer(loaded_minilm.options, encoder=loaded_minilm.encoder.with_options())
