"""The "minilm" scorer: cosine similarity of all-MiniLM-L6-v2 sentence embeddings.

The seed's metric. Reference answers are fixed per question and come back on every
regeneration round, so their embeddings are kept in an LRU cache keyed by a digest of the
text, and, with `reference_store` set, in a file that outlives the job
(`flink.scoring.store`): a reference is looked up in memory, then in the store, and encoded
only if neither has it. Answers are always encoded. Within one batch, duplicate texts are
encoded once, and the answers and the unknown references go through the model together (one
length-sorted pass, so short texts are not padded to long ones).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from flink.scoring.base import Pair, clamp_unit
from flink.scoring.cache import CacheInfo, TextLRU, text_key
from flink.scoring.encoder import SentenceEncoder
from flink.scoring.settings import MiniLMOptions
from flink.scoring.store import EmbeddingStore, StoreInfo

log = logging.getLogger(__name__)


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
        self._store: EmbeddingStore | None = None

    def load(self) -> None:
        """Loads the model and, if configured, names the reference store's namespace (which
        reads the model files once to fingerprint them)."""
        self.encoder.load()
        path = self.options.reference_store
        if path is None or self._store is not None:
            return
        try:
            namespace = self.encoder.fingerprint()
        except OSError as exc:
            log.warning("no reference store (cannot fingerprint the model): %s", exc)
            self.options = self.options.model_copy(update={"reference_store": None})
            return
        self._store = EmbeddingStore(
            path, namespace, self.encoder.dim, max_rows=self.options.reference_store_max_rows
        )

    def cache_info(self) -> CacheInfo:
        """Hits and misses of the in-memory reference-embedding cache."""
        return self._references.info()

    def store_info(self) -> StoreInfo | None:
        """What the reference store did in this process (None without a store)."""
        return None if self._store is None else self._store.info()

    def score(self, answer: str, reference: str) -> float:
        return self.score_batch([(answer, reference)])[0]

    def score_batch(self, pairs: Sequence[Pair]) -> list[float]:
        if not pairs:
            return []
        self.load()
        ref_vecs: dict[str, np.ndarray] = {}
        unknown: dict[str, None] = {}  # references in neither memory nor store, in order
        for _, reference in pairs:
            if reference not in ref_vecs and reference not in unknown:
                cached = self._references.get(reference)
                if cached is None:
                    unknown[reference] = None
                else:
                    ref_vecs[reference] = cached
        digests: dict[str, bytes] = {}  # the store's keys of the unknown references
        if unknown and self._store is not None:
            digests = {r: text_key(r) for r in unknown}
            by_digest = {d: r for r, d in digests.items()}
            for digest, vec in self._store.get_many(list(by_digest)).items():
                reference = by_digest[digest]
                ref_vecs[reference] = vec
                self._references.put(reference, vec)
                del unknown[reference]
        to_encode: dict[str, None] = dict.fromkeys(a for a, _ in pairs)
        to_encode.update(unknown)
        texts = list(to_encode)
        vectors = self.encoder.encode(texts)
        encoded = dict(zip(texts, vectors, strict=True))
        for reference in unknown:
            vec = encoded[reference]
            ref_vecs[reference] = vec
            self._references.put(reference, vec)
        if unknown and self._store is not None:
            self._store.put_many({digests[r]: encoded[r] for r in unknown})
        answers = np.stack([encoded[a] for a, _ in pairs])
        references = np.stack([ref_vecs[r] for _, r in pairs])
        cosines = np.einsum("ij,ij->i", answers, references)
        return [clamp_unit(float(c)) for c in cosines]
