"""The reference store: vectors kept on disk across scorer instances (job restarts), by model
fingerprint, never failing scoring when the file is unusable."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from flink.scoring import MiniLMScorer
from flink.scoring.cache import text_key
from flink.scoring.settings import MiniLMOptions
from flink.scoring.store import EmbeddingStore, model_fingerprint

pytestmark = pytest.mark.unit

DIM = 4


def _vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def test_vectors_round_trip_exactly_and_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "store" / "refs.sqlite3"  # the folder is created
    store = EmbeddingStore(path, "model-a", DIM)
    vectors = {text_key(f"ref {i}"): _vec(i) for i in range(3)}
    assert store.put_many(vectors) == 3
    assert store.put_many({text_key("ref 0"): _vec(99)}) == 0, "first writer wins"
    store.close()

    reopened = EmbeddingStore(path, "model-a", DIM)
    found = reopened.get_many([*vectors, text_key("never stored")])
    assert set(found) == set(vectors)
    for digest, vec in vectors.items():
        assert np.array_equal(found[digest], vec)
    info = reopened.info()
    assert (info.hits, info.misses, info.written, info.disabled) == (3, 1, 0, None)


def test_another_namespace_or_dimension_reads_nothing(tmp_path: Path) -> None:
    path = tmp_path / "refs.sqlite3"
    EmbeddingStore(path, "model-a", DIM).put_many({text_key("ref"): _vec(1)})
    assert EmbeddingStore(path, "model-b", DIM).get_many([text_key("ref")]) == {}
    assert EmbeddingStore(path, "model-a", DIM + 1).get_many([text_key("ref")]) == {}


def test_lookups_of_many_digests_are_chunked(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path / "refs.sqlite3", "m", DIM)
    vectors = {text_key(f"ref {i}"): _vec(i) for i in range(1_200)}  # > SQLite's 999 parameters
    store.put_many(vectors)
    assert len(store.get_many(list(vectors))) == 1_200


def test_the_file_stops_growing_at_max_rows(tmp_path: Path) -> None:
    path = tmp_path / "refs.sqlite3"
    store = EmbeddingStore(path, "m", DIM, max_rows=5)
    assert store.put_many({text_key(f"a{i}"): _vec(i) for i in range(3)}) == 3
    assert store.put_many({text_key(f"b{i}"): _vec(i) for i in range(3)}) == 2
    assert store.put_many({text_key("c"): _vec(0)}) == 0
    # the cap counts rows already in the file (another process's, an earlier run's)
    assert EmbeddingStore(path, "other", DIM, max_rows=5).put_many({text_key("d"): _vec(0)}) == 0
    assert len(store.get_many([text_key(f"a{i}") for i in range(3)])) == 3


@pytest.mark.parametrize("make_bad", ["folder_is_a_file", "not_a_database"])
def test_an_unusable_file_turns_the_store_off_without_raising(
    tmp_path: Path, make_bad: str
) -> None:
    if make_bad == "folder_is_a_file":
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "refs.sqlite3"
    else:
        path = tmp_path / "refs.sqlite3"
        path.write_bytes(b"this is not a database" * 100)
    store = EmbeddingStore(path, "m", DIM)
    assert store.get_many([text_key("ref")]) == {}
    assert store.put_many({text_key("ref"): _vec(0)}) == 0
    assert store.info().disabled is not None


def _write_half(path: str, start: int) -> None:
    store = EmbeddingStore(Path(path), "m", DIM, timeout_s=30)
    for i in range(start, start + 100):
        store.put_many({text_key(f"ref {i}"): _vec(i)})  # one transaction each


def test_processes_write_the_same_file_concurrently(tmp_path: Path) -> None:
    path = tmp_path / "refs.sqlite3"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_half, args=(str(path), s)) for s in (0, 100)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    found = EmbeddingStore(path, "m", DIM).get_many([text_key(f"ref {i}") for i in range(200)])
    assert len(found) == 200


def test_model_fingerprint_depends_on_file_bytes_and_settings(tmp_path: Path) -> None:
    f = tmp_path / "weights"
    f.write_bytes(b"abc")
    base = model_fingerprint([f], "max_seq_length=256", "fp32")
    assert base == model_fingerprint([f], "max_seq_length=256", "fp32")
    assert base != model_fingerprint([f], "max_seq_length=128", "fp32")
    assert base != model_fingerprint([f], "max_seq_length=256", "int8")
    f.write_bytes(b"abd")
    assert base != model_fingerprint([f], "max_seq_length=256", "fp32")


def _scorer(loaded_minilm: MiniLMScorer, path: Path | None, **options: object) -> MiniLMScorer:
    """A scorer as a restarted job builds it: empty memory cache, the given store."""
    opts = loaded_minilm.options.model_copy(update={"reference_store": path, **options})
    encoder = loaded_minilm.encoder
    if "max_seq_length" in options:
        return MiniLMScorer(MiniLMOptions(**opts.model_dump()))
    return MiniLMScorer(opts, encoder=encoder.with_options())


def test_a_restarted_scorer_encodes_only_the_answers(
    tmp_path: Path, loaded_minilm: MiniLMScorer
) -> None:
    path = tmp_path / "refs.sqlite3"
    pairs = [("first answer", "reference one"), ("second answer", "reference two")]
    first = _scorer(loaded_minilm, path)
    scores = first.score_batch(pairs)
    assert first.encoder.texts_encoded == 4
    assert first.store_info().written == 2  # type: ignore[union-attr]

    restarted = _scorer(loaded_minilm, path)
    regenerated = [("a new answer", "reference one"), ("another", "reference two")]
    again = restarted.score_batch(pairs + regenerated)
    assert restarted.encoder.texts_encoded == 4, "references were encoded again"
    info = restarted.store_info()
    assert info is not None and (info.hits, info.misses, info.written) == (2, 0, 0)
    assert again[:2] == scores, "a stored embedding differs from the one computed"
    assert restarted.cache_info().size == 2, "stored vectors fill the memory cache"

    without = _scorer(loaded_minilm, None)
    assert without.score_batch(pairs + regenerated) == pytest.approx(again, abs=1e-6)
    assert without.store_info() is None


def test_another_truncation_length_does_not_read_the_stored_vectors(
    tmp_path: Path, loaded_minilm: MiniLMScorer
) -> None:
    path = tmp_path / "refs.sqlite3"
    _scorer(loaded_minilm, path).score_batch([("answer", "reference")])
    shorter = _scorer(loaded_minilm, path, max_seq_length=128)
    shorter.score_batch([("answer", "reference")])
    assert shorter.encoder.texts_encoded == 2
    with sqlite3.connect(path) as conn:
        (namespaces,) = conn.execute("SELECT count(DISTINCT namespace) FROM embeddings").fetchone()
    assert namespaces == 2


def test_an_unusable_store_does_not_fail_scoring(
    tmp_path: Path, loaded_minilm: MiniLMScorer
) -> None:
    path = tmp_path / "refs.sqlite3"
    path.write_bytes(b"garbage" * 1000)
    scorer = _scorer(loaded_minilm, path)
    assert len(scorer.score_batch([("answer", "reference")])) == 1
    info = scorer.store_info()
    assert info is not None and info.disabled is not None


def test_a_write_lock_held_too_long_skips_the_write_and_keeps_the_store(tmp_path: Path) -> None:
    path = tmp_path / "refs.sqlite3"
    store = EmbeddingStore(path, "m", DIM, timeout_s=0.1)
    store.put_many({text_key("a"): _vec(0)})
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing
    try:
        assert store.put_many({text_key("b"): _vec(1)}) == 0
        assert store.info().disabled is None
        assert len(store.get_many([text_key("a")])) == 1, "reads go on under a writer (WAL)"
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.put_many({text_key("b"): _vec(1)}) == 1
