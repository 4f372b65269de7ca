"""Scorers by name: "minilm" (the seed's embedding cosine) and "lexical" (token-set cosine).

    scorer = get_scorer("minilm", threads=2, batch_size=16)
    scorer.load()                       # optional: otherwise on first use
    scores = scorer.score_batch([(answer, reference), ...])

Parameters not given come from `ScoringSettings` (environment, prefix HARNESS_SCORING_),
else from the option models' defaults. Each call builds a new instance: keep one per process
and name (the model weights and the reference cache live in it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from flink.scoring.base import Scorer, ScorerConfigError, UnknownScorerError
from flink.scoring.lexical import LexicalScorer
from flink.scoring.minilm import MiniLMScorer
from flink.scoring.settings import LexicalOptions, MiniLMOptions, ScoringSettings


@dataclass(frozen=True)
class _Entry:
    options: type[BaseModel]
    factory: Callable[[Any], Scorer]
    settings_field: str


_REGISTRY: dict[str, _Entry] = {
    "minilm": _Entry(MiniLMOptions, MiniLMScorer, "minilm"),
    "lexical": _Entry(LexicalOptions, LexicalScorer, "lexical"),
}


def available_scorers() -> list[str]:
    """The registered scorer names, sorted."""
    return sorted(_REGISTRY)


def scorer_options(name: str) -> type[BaseModel]:
    """The pydantic model of the parameters `name` accepts (for schemas and forms)."""
    try:
        return _REGISTRY[name].options
    except KeyError:
        raise UnknownScorerError(name, available_scorers()) from None


def get_scorer(name: str, settings: ScoringSettings | None = None, **params: Any) -> Scorer:
    """A new scorer called `name`, with `params` overriding the settings' defaults.

    Raises UnknownScorerError for a name not registered, ScorerConfigError for parameters
    the scorer does not accept or values out of range; both messages name the scorer.
    """
    entry = _REGISTRY.get(name)
    if entry is None:
        raise UnknownScorerError(name, available_scorers())
    base: BaseModel = getattr(settings or ScoringSettings(), entry.settings_field)
    try:
        options = entry.options.model_validate({**base.model_dump(), **params})
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ScorerConfigError(name, details) from exc
    return entry.factory(options)
