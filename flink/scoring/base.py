"""The scorer contract and the scoring errors, in one place.

Error tree::

    ScoringError
    ├── UnknownScorerError   (also a KeyError: the registry has no scorer of that name)
    ├── ScorerConfigError    (also a ValueError: bad or unexpected parameters for a known scorer)
    └── ModelLoadError       (the model files are missing or unreadable)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

Pair = tuple[str, str]
"""(answer, reference): the LLM answer first, the dataset's reference answer second."""


class ScoringError(Exception):
    """Base class of every error raised by flink.scoring."""


class UnknownScorerError(ScoringError, KeyError):
    """No scorer is registered under the requested name."""

    def __init__(self, name: str, available: Sequence[str]) -> None:
        self.name = name
        self.available = tuple(available)
        super().__init__(f"unknown scorer {name!r}; available: {', '.join(self.available)}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class ScorerConfigError(ScoringError, ValueError):
    """A known scorer was given parameters it does not accept or cannot use."""

    def __init__(self, name: str, detail: str) -> None:
        self.name = name
        super().__init__(f"bad parameters for scorer {name!r}: {detail}")


class ModelLoadError(ScoringError):
    """The model's files could not be found or read."""


@runtime_checkable
class Scorer(Protocol):
    """Scores (answer, reference) pairs; higher means the answer is closer to the reference.

    Scores lie in [0, 1]. Implementations are cheap to construct: heavy resources (model
    weights) load lazily on first use, or at once through `load()` (call it from a Flink
    function's `open()` so the first record does not pay for it). An instance is safe to use
    from one thread at a time per call; keep one instance per process and scorer name.
    """

    @property
    def name(self) -> str:
        """The registry name of this scorer, e.g. "minilm"."""
        ...

    def load(self) -> None:
        """Loads whatever the scorer needs; idempotent. A no-op for scorers with no model."""
        ...

    def score_batch(self, pairs: Sequence[Pair]) -> list[float]:
        """Returns one score in [0, 1] per (answer, reference) pair, in input order."""
        ...


def clamp_unit(x: float) -> float:
    """Clamps a cosine similarity into [0, 1].

    Negative cosines (texts that point in opposite directions, which for sentence embeddings
    means "unrelated" rather than "opposite") become 0; values a rounding error above 1
    become 1.
    """
    if x <= 0.0:
        return 0.0
    return 1.0 if x >= 1.0 else x
