"""The scoring job's MiniLM scorer on the real cluster: the default runtime (ONNX Runtime, fp32)
and the numpy fallback both score within 1e-3 of sentence-transformers.

The expected scores come from the unit tests' sentence-transformers fixture, so this test
process (the services' environment, without the scoring runtime) needs no model of its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flinkjob_helpers import answer, produce, running_job

FIXTURE = Path(__file__).parents[2] / "unit" / "scoring" / "fixtures" / "minilm_reference.json"
SCORE_TOLERANCE = 1e-3


@pytest.mark.parametrize("runtime", ["onnx", "numpy"])
def test_minilm_scores_in_the_job_match_sentence_transformers(
    endpoints, catalog, control, make_config, reader, runtime
):
    pairs = json.loads(FIXTURE.read_text(encoding="utf-8"))["pairs"][:8]
    exp = f"exp-minilm-{runtime}"
    records = [
        answer(
            f"m{i}",
            p["answer"],
            reference=p["reference"],
            threshold=-1.0,  # everything accepted: one result per answer
            scorer="minilm",
            experiment_id=exp,
        )
        for i, p in enumerate(pairs)
    ]
    expected = {f"m{i}": min(max(p["cosine"], 0.0), 1.0) for i, p in enumerate(pairs)}
    config = make_config(scorer_params={"minilm": {"runtime": runtime, "threads": 1}})
    results = reader(catalog.results.name)
    with running_job(control, config):
        produce(endpoints.kafka_bootstrap, catalog.answers.name, records)
        results.wait_for(lambda r: len(r.envelopes(exp)) >= len(records), 120, "every result")
    got = {e.question_id: e.score for e in results.envelopes(exp)}
    assert set(got) == set(expected)
    worst = max(abs(got[q] - expected[q]) for q in expected)
    assert worst < SCORE_TOLERANCE, f"{runtime}: worst score error {worst:.2e}"


def test_a_new_job_reads_the_references_an_earlier_job_stored(
    endpoints, catalog, control, make_config, reader, tmp_path
):
    """The reference store outlives the job: a second job reads the vectors the first one
    wrote instead of encoding the references again. To tell a read from a re-encoding, the
    test negates every stored vector between the jobs: read back, each related pair's cosine
    flips sign and scores 0, where an encoded reference would score as the first job did."""
    import sqlite3

    import numpy as np

    store = tmp_path / "references.sqlite3"
    pairs = json.loads(FIXTURE.read_text(encoding="utf-8"))["pairs"][:6]
    config = make_config(scorer_params={"minilm": {"reference_store": str(store), "threads": 1}})
    results = reader(catalog.results.name)

    def run(exp: str) -> dict[str, float]:
        records = [
            answer(
                f"s{i}",
                p["answer"],
                reference=p["reference"],
                threshold=-1.0,
                scorer="minilm",
                experiment_id=exp,
            )
            for i, p in enumerate(pairs)
        ]
        with running_job(control, config):
            produce(endpoints.kafka_bootstrap, catalog.answers.name, records)
            results.wait_for(lambda r: len(r.envelopes(exp)) >= len(records), 120, exp)
        return {e.question_id: e.score for e in results.envelopes(exp)}

    first = run("exp-store-first")
    expected = {f"s{i}": min(max(p["cosine"], 0.0), 1.0) for i, p in enumerate(pairs)}
    assert max(abs(first[q] - expected[q]) for q in expected) < SCORE_TOLERANCE
    with sqlite3.connect(store) as conn:
        rows = conn.execute("SELECT namespace, digest, vector FROM embeddings").fetchall()
        assert len(rows) == len({p["reference"] for p in pairs}), "one row per reference"
        conn.executemany(
            "UPDATE embeddings SET vector = ? WHERE namespace = ? AND digest = ?",
            [((-np.frombuffer(v, np.float32)).tobytes(), ns, d) for ns, d, v in rows],
        )
    conn.close()

    second = run("exp-store-second")
    related = [q for q, cosine in expected.items() if cosine > 0.05]
    assert related, "the fixture has related pairs"
    assert all(second[q] == 0.0 for q in related), (
        f"a new job encoded the references instead of reading them: {second}"
    )
