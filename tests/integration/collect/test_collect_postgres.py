"""The collector on the real PostgreSQL: rows written by the pipeline's own storage, event-sink
and cache code (collect_scenario.py), read back as RunData, then metrics and a report.

The run (T = the start of the load, one arrival per second, load window [T, T + 20]):

=====  ==========================================================  =====================
q00-6  accepted in round 0, one call each                          e2e 1..7 s
q07    overload, in-worker backoff 0.4 s, then ok -> accepted      e2e 8 s
q08    score 0.2 -> regenerated, round 1 scores 0.3 -> low_quality  e2e 9 s
q09    rate limited, deferred to the 5s tier, then ok -> accepted  e2e 10 s
q10    invalid_request -> dead-lettered by the worker
q11    raw bytes that did not decode -> dead-lettered (ids recovered from the payload)
q12    in flight: one overload attempt seen in the events
q13    in flight, asked again meanwhile (coalesced: placeholder row, access count 2)
hits   q00 asked again twice at T + 15 and T + 16 -> two cache hits
=====  ==========================================================  =====================
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from collect_scenario import Scenario, Step

from experiments import spec as specs
from experiments.collect import collect, collect_run, counter_delta
from experiments.collect_meta import StatePaths
from experiments.metrics.compute import compute
from harness import cli
from pipeline.generator.load import LoadSummary
from pipeline.storage.cache import CacheOutcome
from pipeline.storage.db import Database
from pipeline.storage.experiments import ExperimentStore
from pipeline.storage.settings import DatabaseSettings

T = 1_760_000_000.0
SIM_BEFORE = {"since": 5.0, "total": 100, "by_status": {"200": 100}, "by_outcome": {"ok": 100}}
SIM_AFTER = {"since": 5.0, "total": 118, "by_status": {"200": 113, "429": 2, "503": 3},
             "by_outcome": {"ok": 113, "rate_limited": 2, "overload": 3}}


def _spec() -> dict:
    return specs.validate({"name": "collect-it", "seed": 11, "warmup_s": 0, "slo_s": 8,
                           "scoring": {"threshold": 0.5, "max_rounds": 1}})


def write_run(settings: DatabaseSettings, exp: str) -> None:
    with Database(settings, application_name="test-collect") as db, \
            Database(settings, application_name="test-collect-cache", autocommit=True) as cache_db:
        store = ExperimentStore(db, clock=lambda: T - 10)
        store.create(exp, "collect-it", _spec(), git_revision="cafebabe")
        store.mark_started(exp)
        s = Scenario(db, cache_db, exp)
        ok = Step("ok", 0.3)
        for i in range(7):
            s.answer(f"q{i:02d}", T + i, [([ok], 0.8)], e2e_s=i + 1.0)
        s.answer("q07", T + 7, [([Step("overload", 0.2, delay_s=0.4, http_status=503), ok], 0.9)],
                 e2e_s=8.0)
        s.answer("q08", T + 8, [([ok], 0.2), ([ok], 0.3)], e2e_s=9.0)
        s.answer("q09", T + 9, [([Step("rate_limited", 0.1, delay_s=5.0, defer=True,
                                       http_status=429), ok], 0.7)], e2e_s=10.0)
        s.dead_letter_in_worker("q10", T + 10, [Step("invalid_request", 0.1, http_status=400)],
                                e2e_s=0.5)
        s.send("q11", T + 11)
        s.dead_letter_raw(json.dumps({"experiment_id": exp, "question_id": "q11",
                                      "round": "x"}).encode(), "schema_violation: round",
                          at=T + 11.2, durable_at=T + 11.3)
        s.dead_letter_raw(json.dumps({"experiment_id": exp, "round": 1}).encode(), "invalid_json",
                          at=T + 11.4, durable_at=T + 11.5)  # no question id: an orphan
        s.in_flight("q12", T + 12, [Step("overload", 0.25, delay_s=1.0)])
        s.in_flight("q13", T + 13, [])
        assert s.ask_again("q13", T + 14, in_flight=True) is CacheOutcome.COALESCED
        assert s.ask_again("q00", T + 15, in_flight=False) is CacheOutcome.HIT
        assert s.ask_again("q00", T + 16, in_flight=False) is CacheOutcome.HIT
        s.window(T, T + 10, [("accepted", 0.8)] * 7 + [("regenerate", 0.2)])
        s.window(T + 10, T + 20, [("accepted", 0.9), ("low_quality", 0.3), ("accepted", 0.7)])
        s.flush_events()
        summary = LoadSummary(exp, started_at=T, ended_at=T + 20, finished_at=T + 20.1, asked=17,
                              sent=14, acknowledged=14, acknowledged_questions=14, cache_hits=2,
                              coalesced=1)
        store.mark_finished(exp, summary=summary.to_dict())


def write_neighbour(settings: DatabaseSettings, exp: str) -> None:
    """Another experiment's rows in the same tables: must not leak into the collection."""
    with Database(settings) as db, Database(settings, autocommit=True) as cache_db:
        s = Scenario(db, cache_db, exp)
        s.answer("q00", T + 3, [([Step("ok", 0.1)], 0.9)], e2e_s=0.7)
        s.flush_events()


@pytest.fixture
def collected_exp(db_settings: DatabaseSettings, new_experiment: Callable[[str], str]) -> str:
    exp, other = new_experiment("collect"), new_experiment("neighbour")
    write_run(db_settings, exp)
    write_neighbour(db_settings, other)
    return exp


def _collect(settings: DatabaseSettings, exp: str):
    return collect_run(settings.dsn.get_secret_value(), exp,
                       sim_counters=counter_delta(SIM_BEFORE, SIM_AFTER),
                       state_paths=StatePaths.of_stack(), clock=lambda: T + 30)


def test_run_data_from_stored_rows(db_settings: DatabaseSettings, collected_exp: str) -> None:
    collected = _collect(db_settings, collected_exp)
    run, stats = collected.run, collected.stats
    by_id = {q.question_id: q for q in run.questions if not q.cache_hit}

    # one outcome per generator request: 14 LLM passes + 2 cache hits (the coalesced ask is none)
    assert sorted(by_id) == [f"q{i:02d}" for i in range(14)]
    assert len(run.questions) == 16
    assert stats.by_state == {"accepted": 9, "dead_lettered": 2, "in_flight": 2, "low_quality": 1}
    assert (stats.cache_hits, stats.coalesced, stats.in_flight, stats.unseen) == (2, 1, 2, 0)
    assert stats.orphan_dead_letters == {"invalid_json": 1}
    assert stats.load_window_source == "summary" and stats.experiment_row

    # times: intended, the ack of the send, durable = the storage commit
    for i in range(10):
        q = by_id[f"q{i:02d}"]
        assert q.intended_at == T + i
        assert q.durable_at == pytest.approx(T + i + [1, 2, 3, 4, 5, 6, 7, 8, 9, 10][i])
        assert q.sent_at == pytest.approx(T + i + 0.003)
        assert q.first_attempt_at == pytest.approx(T + i + 0.051)

    q08 = by_id["q08"]
    assert (q08.state, q08.rounds, q08.llm_calls) == ("low_quality", 1, 2)
    assert (q08.score_round0, q08.score_final) == (0.2, 0.3)
    assert q08.hops["sent"][1] == q08.hops["scored"][0]  # Flink sent round 1 when it scored round 0
    assert len(q08.hops["answered"]) == 2 and len(q08.hops["scored"]) == 2

    assert by_id["q10"].dlq_reason == "invalid_request: HTTP 400"
    q11 = by_id["q11"]  # no intended_at in its row: taken from the generator's event
    assert (q11.state, q11.intended_at, q11.llm_calls) == ("dead_lettered", T + 11, 0)
    assert q11.dlq_reason == "schema_violation: round"

    q12, q13 = by_id["q12"], by_id["q13"]
    assert (q12.state, q12.llm_calls, q12.failed_attempts) == ("in_flight", 1, 1)
    assert q12.durable_at is None
    assert (q13.state, q13.llm_calls, q13.access_count) == ("in_flight", 0, 2)

    hits = [q for q in run.questions if q.cache_hit]
    assert [(h.question_id, h.access_count, h.state, h.llm_calls) for h in hits] == [
        ("q00", 2, "accepted", 0), ("q00", 3, "accepted", 0)]
    assert by_id["q00"].access_count == 3
    assert hits[0].durable_at - hits[0].intended_at == pytest.approx(0.01)

    # attempts: the stored histories (14) + the in-flight call seen in the events (1)
    assert len(run.attempts) == 15 and stats.in_flight_attempts == 1
    q07 = [a for a in run.attempts if a.question_id == "q07"]
    assert [a.status for a in q07] == ["error", "ok"] and q07[1].delay_before_s == 0.4
    q09 = [a for a in run.attempts if a.question_id == "q09"]
    assert q09[0].error_class == "rate_limited"
    assert q09[1].tier == "5s" and q09[1].tier_wait_s == pytest.approx(5.011, abs=1e-6)
    assert stats.llm_attempt_events == 15  # every call emitted an event (q12's included)
    assert {a.worker for a in run.attempts} == {"w1"} and stats.attempts_without_worker == 0

    assert [(w.scored, w.accepted, w.sent_back, w.low_quality) for w in run.windows] == [
        (8, 7, 1, 0), (3, 2, 0, 1)]

    meta = run.meta
    assert (meta.run_name, meta.experiment_id, meta.seed, meta.git_revision) == (
        "collect-it", collected_exp, 11, "cafebabe")
    assert (meta.started_at, meta.ended_at, meta.warmup_s, meta.slo_s) == (T, T + 20, 0.0, 8.0)
    assert (meta.score_threshold, meta.max_rounds, meta.collected_at) == (0.5, 1, T + 30)
    assert meta.component_versions["postgresql"][0].isdigit()
    assert {"python", "confluent-kafka", "openai"} <= set(meta.component_versions)
    assert run.spec["name"] == "collect-it"
    assert run.sim_counters["requests"] == 18 and run.sim_counters["status_429"] == 2


def test_the_sensor_and_the_collector_agree(
    db_settings: DatabaseSettings, collected_exp: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The DAG's sensor (runner.pending_of, PASS_STATES) counts what the collector reports in
    flight: q12, and q13 whose repeated ask was coalesced (the old sent - coalesced - terminal
    count said 14 - 1 - 12 = 1). Sends the database has no trace of are pending too."""
    from experiments import runner

    monkeypatch.setattr(runner, "_db", lambda: Database(db_settings, autocommit=True,
                                                        application_name="test-pending"))
    stats = _collect(db_settings, collected_exp).stats
    load = {"sent": 14, "acknowledged": 14, "acknowledged_questions": 14, "coalesced": 1}
    left = runner.pending_of(collected_exp, load)
    assert (left.known, left.in_flight, left.unseen) == (14, stats.in_flight, stats.unseen)
    assert left.total == 2
    late = runner.pending_of(collected_exp, {**load, "acknowledged_questions": 16})
    assert (late.in_flight, late.unseen, late.total) == (2, 2, 4)


def test_metrics_from_the_collected_run(db_settings: DatabaseSettings, collected_exp: str) -> None:
    m = compute(_collect(db_settings, collected_exp).run)
    assert m.counts.questions == 16 and m.counts.steady == 16
    assert m.counts.steady_by_state == {"accepted": 11, "dead_lettered": 2, "in_flight": 2,
                                        "low_quality": 1}
    assert m.counts.steady_in_flight == 2
    assert m.counts.duplicate_llm_question_ids == 0
    assert m.outcome.status == "finished" and m.outcome.in_flight_at_collection == 2

    e2e = m.latency.e2e  # q00..q09: 1, 2, ..., 10 s
    assert e2e.count == 10 and e2e.max == pytest.approx(10.0)
    assert e2e.p50 == pytest.approx(5.0, rel=1e-3)
    assert e2e.p90 == pytest.approx(9.0, rel=1e-3)
    assert e2e.p99 == pytest.approx(10.0, rel=1e-3)
    assert e2e.mean == pytest.approx(5.5, rel=1e-6)

    # one worker ("w1", collect_scenario.py) made every call and answered q00..q09
    assert [(w.worker, w.questions_answered, w.attempts, w.errors) for w in m.workers] == [
        ("w1", 10, 15, 4)]

    r = m.retries
    assert (r.llm_questions, r.llm_calls) == (14, 15)
    assert r.amplification == pytest.approx(15 / 14)
    assert r.attempts_by_class == {"invalid_request": 1, "ok": 11, "overload": 2,
                                   "rate_limited": 1}
    rec = r.recovery
    assert (rec.failed_at_least_once, rec.recovered) == (3, 2)
    assert rec.recovery_rate == pytest.approx(2 / 3)
    assert (rec.recovered_in_worker, rec.recovered_via_retry_tier) == (1, 1)
    assert r.retry_tiers.by_tier["5s"].deferrals == 1
    assert r.dead_letters.by_reason == {"invalid_request: HTTP 400": 1,
                                        "schema_violation: round": 1}
    truth = r.ground_truth
    assert truth.client.requests == 15
    assert truth.simulator is not None and truth.simulator.requests == 18
    assert truth.simulator.amplification == pytest.approx(18 / 14)

    c = m.cache
    assert (c.requests, c.hits) == (16, 2) and c.hit_rate == pytest.approx(2 / 16)
    assert c.access_count.max == 3

    waterfall = m.latency.waterfall.by_part
    assert waterfall["backoff"].max == pytest.approx(0.4, rel=1e-3)
    assert waterfall["retry_tier"].max == pytest.approx(5.011, rel=1e-3)
    q = m.quality  # round 0: 7 x 0.8, 0.9, 0.2, 0.7; final: q08 ends at 0.3
    assert (q.round0.count, q.final.count) == (10, 10)
    assert q.round0.mean == pytest.approx(0.74) and q.final.mean == pytest.approx(0.75)
    assert q.extra_llm_calls == 1


def test_harness_collect_writes_the_report(
    db_settings: DatabaseSettings, collected_exp: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "reports" / "collect-run"
    assert cli.main(["collect", collected_exp, "--out", str(out)]) == 0
    html = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert html == out / "index.html" and html.is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["run"]["run_name"] == "collect-run"
    assert metrics["run"]["experiment_id"] == collected_exp
    assert metrics["counts"]["questions"] == 16
    assert (out / "questions.csv").is_file() and (out / "run.json").is_file()
    assert "collect-run" in html.read_text(encoding="utf-8")


def test_unknown_experiment(db_settings: DatabaseSettings, new_experiment: Callable[[str], str],
                            tmp_path: Path) -> None:
    from experiments.collect import ExperimentNotFound

    with pytest.raises(ExperimentNotFound):
        collect(db_settings.dsn.get_secret_value(), new_experiment("absent"),
                state_paths=StatePaths())
    assert cli.main(["collect", new_experiment("absent"), "--out", str(tmp_path / "r")]) == 2
