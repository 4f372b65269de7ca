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
