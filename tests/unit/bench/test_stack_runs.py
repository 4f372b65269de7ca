"""The benchmark experiments' spec and the figures read back from a run (bench/stack_runs.py);
nothing here touches the stack."""

from __future__ import annotations

from pathlib import Path

import stack_runs


def test_bench_spec_is_one_llm_call_per_question_at_a_constant_rate() -> None:
    spec = stack_runs.bench_spec("cap", profile="instant", rate=300, duration_s=40, workers=2,
                                 concurrency=128)
    assert spec["arrival"]["kind"] == "constant" and spec["arrival"]["rate"] == 300
    assert spec["dataset"]["size"] == 12_001 and spec["dataset"]["repeat_share"] == 0
    assert spec["llm"]["profile"] == "instant" and spec["retry"]["max_attempts"] == 1
    assert spec["scoring"] == {"threshold": 0, "max_rounds": 0, "scorer": "lexical"}
    assert spec["workers"] == {"count": 2, "concurrency": 128}


def test_measured_reads_hops_and_answered_pairs() -> None:
    metrics = {"latency": {"e2e": {"p50": 0.4},
                           "waterfall": {"parts": ["llm"], "by_part": {"llm": {"p50": 0.2}}}},
               "counts": {"questions": 3}}
    rows = [
        {"steady": "True", "cache_hit": "False", "state": "accepted", "e2e_s": "0.5", "llm_s": "0.2"},
        {"steady": "False", "cache_hit": "False", "state": "accepted", "e2e_s": "9", "llm_s": "1"},
        {"steady": "True", "cache_hit": "False", "state": "in_flight", "e2e_s": "", "llm_s": ""},
        {"steady": "True", "cache_hit": "True", "state": "accepted", "e2e_s": "0.1", "llm_s": "0"},
        {"steady": "True", "cache_hit": "False", "state": "low_quality", "e2e_s": "1", "llm_s": "0.5"},
    ]
    run = stack_runs.Measured("l", Path("."), "finished", metrics, rows)
    assert run.hop("llm") == {"p50": 0.2} and run.hop("storage") == {}
    assert run.latency("e2e") == {"p50": 0.4} and run.latency("producer_send") == {}
    assert run.answered_pairs() == [(0.5, 0.2), (1.0, 0.5)]
    assert run.question_count == 3
