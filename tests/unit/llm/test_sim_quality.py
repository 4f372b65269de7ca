"""The quality model: a lexical score of the answer follows the closeness knob."""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter

import pytest

from pipeline.llm.sim import Quality
from pipeline.llm.sim.quality import DISTRACTORS, compose_answer, draw_closeness

REFERENCE = (
    "Plants make their food by photosynthesis using sunlight water and carbon dioxide to produce "
    "glucose and oxygen inside the chloroplasts of their leaf cells which contain green chlorophyll"
)


def cosine(a: str, b: str) -> float:
    ca, cb = Counter(a.lower().split()), Counter(b.lower().split())
    dot = sum(ca[w] * cb[w] for w in ca)
    return dot / (math.sqrt(sum(v * v for v in ca.values())) * math.sqrt(sum(v * v for v in cb.values())))


def mean_score(mean: float, spread: float = 0.1, n: int = 200) -> float:
    quality = Quality(mean=mean, spread=spread)
    rng = random.Random(0)
    return statistics.fmean(
        cosine(" ".join(compose_answer(REFERENCE, draw_closeness(quality, rng), quality, rng)), REFERENCE)
        for _ in range(n)
    )


def test_score_rises_with_the_mean_knob() -> None:
    scores = [mean_score(m) for m in (0.1, 0.3, 0.5, 0.7, 0.9)]
    assert scores == sorted(scores)
    assert scores[-1] - scores[0] > 0.5


def test_spread_knob_widens_the_score_distribution() -> None:
    def spread_of(spread: float) -> float:
        quality = Quality(mean=0.5, spread=spread)
        rng = random.Random(1)
        return statistics.pstdev(
            cosine(" ".join(compose_answer(REFERENCE, draw_closeness(quality, rng), quality, rng)), REFERENCE)
            for _ in range(300)
        )

    assert spread_of(0.3) > 2 * spread_of(0.02)


def test_closeness_is_clipped_and_exact_without_spread() -> None:
    rng = random.Random(2)
    assert draw_closeness(Quality(mean=0.42, spread=0), rng) == 0.42
    draws = [draw_closeness(Quality(mean=0.95, spread=0.5), rng) for _ in range(500)]
    assert min(draws) >= 0 and max(draws) == 1.0


def test_full_closeness_reproduces_the_reference() -> None:
    quality = Quality(mean=1.0, spread=0.0)
    words = compose_answer(REFERENCE, 1.0, quality, random.Random(0))
    assert " ".join(words) == REFERENCE


def test_length_follows_the_reference_within_bounds() -> None:
    quality = Quality(min_words=20, max_words=25)
    assert len(compose_answer(REFERENCE, 0.5, quality, random.Random(0))) == 25
    assert len(compose_answer("short answer", 0.5, quality, random.Random(0))) == 20


def test_without_reference_all_words_are_distractors() -> None:
    words = compose_answer(None, 1.0, Quality(), random.Random(3))
    assert 20 <= len(words) <= 120 and set(words) <= set(DISTRACTORS)


@pytest.mark.parametrize("mean", [0.2, 0.8])
def test_closeness_header_matches_word_overlap(mean: float) -> None:
    quality = Quality(mean=mean, spread=0)
    words = compose_answer(REFERENCE, mean, quality, random.Random(5))
    ref_words = REFERENCE.split()
    share = sum(w == ref_words[i % len(ref_words)] for i, w in enumerate(words)) / len(words)
    assert share == pytest.approx(mean, abs=0.2)
