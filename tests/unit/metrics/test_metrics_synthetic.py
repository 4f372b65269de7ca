"""The synthetic run generator: reproducible, plausible, and backoff has the expected effect."""

from __future__ import annotations

from statistics import fmean

from experiments.metrics import compute
from experiments.metrics.synthetic import make_run


def test_same_seed_same_run_and_different_seed_different_run() -> None:
    assert make_run(4) == make_run(4)
    assert make_run(4).questions != make_run(5).questions


def test_run_is_consistent() -> None:
    run = make_run(1)
    ids = [q.question_id for q in run.questions if not q.cache_hit]
    assert len(ids) == len(set(ids))  # every LLM pass has its own id
    by_q: dict[str, int] = {}
    for a in run.attempts:
        by_q[a.question_id] = by_q.get(a.question_id, 0) + 1
        assert a.ended_at >= a.started_at
    for q in run.questions:
        if not q.cache_hit:
            assert q.llm_calls == by_q.get(q.question_id, 0)
        if q.state in ("accepted", "low_quality"):
            assert q.durable_at is not None and q.durable_at > q.intended_at
    states = {q.state for q in run.questions}
    assert {"accepted", "dead_lettered"} <= states
    assert any(q.cache_hit for q in run.questions)
    assert run.sim_counters["requests"] > 0 and run.windows


def test_longer_backoff_means_fewer_calls_and_a_shorter_tail() -> None:
    def mean_of(backoff: float, key: str) -> float:
        return fmean(compute(make_run(s, backoff=backoff)).headline[key] or 0.0 for s in range(3))

    assert mean_of(0.1, "amplification") > mean_of(2.0, "amplification")
    assert mean_of(0.1, "retry_wait_mean_s") > mean_of(2.0, "retry_wait_mean_s")
