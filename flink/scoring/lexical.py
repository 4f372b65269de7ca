"""The "lexical" scorer: cosine of the answer's and the reference's sets of content words.

score = |A ∩ R| / sqrt(|A| * |R|) (the Ochiai coefficient, i.e. the cosine of binary term
vectors), where A and R are the normalised terms of answer and reference:

- Unicode NFKC, case-folded; accents stripped (crème -> creme) for non-ASCII text;
- terms are runs of letters or digits; one-letter words dropped (digits kept);
- English stop-words dropped (optional), unless that leaves a side empty, in which case that
  comparison uses all its terms (so "Yes." vs "yes" still scores 1);
- simple plural folding (optional): "cats" -> "cat", "berries" -> "berry".

Monotone in overlap: for a fixed reference, adding to the answer a reference term it lacks
always raises the score ((k+1)/sqrt(a+1) > k/sqrt(a) whenever k <= a), and adding a term the
reference lacks lowers it. No IDF: there is no corpus to fit on in a streaming job, and the
stop-word list removes the terms IDF would mostly discount. Pure Python: about 15k pairs per
CPU-second, 35k with the reference cache warm (bench/bench_scorers.py).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence

from flink.scoring.base import Pair
from flink.scoring.cache import CacheInfo, TextLRU
from flink.scoring.settings import LexicalOptions

_TERM = re.compile(r"[^\W_]+")

STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all also am an and any are aren as at be because been
    before being below between both but by can cannot could couldn did didn do does doesn doing
    don down during each few for from further get gets got had hadn has hasn have haven having
    he her here hers herself him himself his how however i if in into is isn it its itself just
    let ll me might more most much must mustn my myself no nor not now of off on once only or
    other ought our ours ourselves out over own re really same shall shan she should shouldn so
    some such than that the their theirs them themselves then there these they this those
    through to too under until up upon us ve very was wasn we were weren what when where which
    while who whom why will with won would wouldn yet you your yours yourself yourselves
    """.split()  # noqa: SIM905 (a word list reads better as text)
)
_KEEP = frozenset({"no", "not"})  # negations (and "yes", not listed) carry many answers
_STOP = STOPWORDS - _KEEP


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _fold_plural(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word[-1] == "s" and word[-2] not in "su" and word[-2:] != "is":
        return word[:-1]
    return word


def terms(text: str, *, stopwords: bool = True, stem: bool = True) -> frozenset[str]:
    """The normalised term set of `text` (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if not text.isascii():
        text = _strip_accents(text)
    words = [w for w in _TERM.findall(text) if len(w) > 1 or w.isdigit()]
    if stem:
        words = [_fold_plural(w) for w in words]
    if stopwords:
        content = [w for w in words if w not in _STOP]
        if content:
            words = content
    return frozenset(words)


def set_cosine(a: frozenset[str], r: frozenset[str]) -> float:
    """|a ∩ r| / sqrt(|a| |r|); 0 when either side is empty."""
    if not a or not r:
        return 0.0
    return len(a & r) / math.sqrt(len(a) * len(r))


class LexicalScorer:
    """Token-set cosine in pure Python; reference term sets are cached."""

    name = "lexical"

    def __init__(self, options: LexicalOptions | None = None) -> None:
        self.options = options or LexicalOptions()
        self._references: TextLRU[frozenset[str]] = TextLRU(self.options.cache_size)

    def load(self) -> None:
        """Nothing to load."""

    def cache_info(self) -> CacheInfo:
        return self._references.info()

    def terms(self, text: str) -> frozenset[str]:
        return terms(text, stopwords=self.options.stopwords, stem=self.options.stem)

    def score(self, answer: str, reference: str) -> float:
        return self.score_batch([(answer, reference)])[0]

    def score_batch(self, pairs: Sequence[Pair]) -> list[float]:
        out: list[float] = []
        for answer, reference in pairs:
            ref = self._references.get(reference)
            if ref is None:
                ref = self.terms(reference)
                self._references.put(reference, ref)
            out.append(set_cosine(self.terms(answer), ref))
        return out
