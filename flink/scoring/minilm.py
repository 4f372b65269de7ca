"""The "minilm" scorer: cosine similarity of all-MiniLM-L6-v2 sentence embeddings.

The seed's metric. Reference answers are fixed per question and come back on every
regeneration round, so their embeddings are kept in an LRU cache keyed by a digest of the
text; answers are always encoded. Within one batch, duplicate texts are encoded once, and
the answers and the uncached references go through the model together (one length-sorted
pass, so short texts are not padded to long ones).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flink.scoring.base import Pair, clamp_unit
from flink.scoring.cache import CacheInfo, TextLRU
from flink.scoring.encoder import SentenceEncoder
from flink.scoring.settings import MiniLMOptions


class MiniLMScorer:
    """Cosine of mean-pooled, normalised all-MiniLM-L6-v2 embeddings, clamped to [0, 1].

    Negative cosines (unrelated texts; rarely below -0.1 for this model) score 0.
    """

    name = "minilm"

    def __init__(
        self, options: MiniLMOptions | None = None, *, encoder: SentenceEncoder | None = None
    ) -> None:
        """`encoder` replaces the one built from `options` (e.g. one sharing loaded weights
        through `SentenceEncoder.with_options`); the cache options still apply."""
        self.options = options or MiniLMOptions()
        self.encoder = encoder or SentenceEncoder(
            self.options.model_dir,
            max_seq_length=self.options.max_seq_length,
            batch_size=self.options.batch_size,
            threads=self.options.threads,
            sort_by_length=self.options.sort_by_length,
            packed=self.options.packed,
            runtime=self.options.runtime,
        )
        self._references: TextLRU[np.ndarray] = TextLRU(self.options.cache_size)

    def load(self) -> None:
        self.encoder.load()

    def cache_info(self) -> CacheInfo:
        """Hits and misses of the reference-embedding cache."""
        return self._references.info()

    def score(self, answer: str, reference: str) -> float:
        return self.score_batch([(answer, reference)])[0]

    def score_batch(self, pairs: Sequence[Pair]) -> list[float]:
        if not pairs:
            return []
        ref_vecs: dict[str, np.ndarray] = {}
        to_encode: dict[str, None] = {}  # insertion-ordered set of distinct texts
        for answer, reference in pairs:
            to_encode[answer] = None
            if reference not in ref_vecs and reference not in to_encode:
                cached = self._references.get(reference)
                if cached is None:
                    to_encode[reference] = None
                else:
                    ref_vecs[reference] = cached
        texts = list(to_encode)
        vectors = self.encoder.encode(texts)
        encoded = dict(zip(texts, vectors, strict=True))
        for _, reference in pairs:
            if reference not in ref_vecs:
                vec = encoded[reference]
                ref_vecs[reference] = vec
                self._references.put(reference, vec)
        answers = np.stack([encoded[a] for a, _ in pairs])
        references = np.stack([ref_vecs[r] for _, r in pairs])
        cosines = np.einsum("ij,ij->i", answers, references)
        return [clamp_unit(float(c)) for c in cosines]
