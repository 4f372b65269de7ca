"""Answer scoring for the Flink job: plain Python, no Flink imports.

Public surface::

    from flink.scoring import get_scorer
    scorer = get_scorer("minilm", threads=1, batch_size=32)   # or "lexical"
    scorer.load()                                             # e.g. in a Flink open()
    scores = scorer.score_batch([(answer, reference), ...])   # floats in [0, 1]

See registry.py for the names and settings.py for every parameter.
"""

from flink.scoring.base import (
    ModelLoadError,
    Pair,
    Scorer,
    ScorerConfigError,
    ScoringError,
    UnknownScorerError,
)
from flink.scoring.cache import CacheInfo
from flink.scoring.lexical import LexicalScorer
from flink.scoring.minilm import MiniLMScorer
from flink.scoring.registry import available_scorers, get_scorer, scorer_options
from flink.scoring.settings import LexicalOptions, MiniLMOptions, ScoringSettings

__all__ = [
    "CacheInfo",
    "LexicalOptions",
    "LexicalScorer",
    "MiniLMOptions",
    "MiniLMScorer",
    "ModelLoadError",
    "Pair",
    "Scorer",
    "ScorerConfigError",
    "ScoringError",
    "ScoringSettings",
    "UnknownScorerError",
    "available_scorers",
    "get_scorer",
    "scorer_options",
]
