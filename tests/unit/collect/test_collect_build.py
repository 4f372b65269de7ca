"""build_run: RawRun -> RunData (meta precedence, in-flight passes, cache hits) and the CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

import experiments.collect as collect_mod
import experiments.report as report_mod
from experiments import spec as specs
from experiments.collect import (
    Collected,
    CollectStats,
    ExperimentNotFound,
    MetaOverrides,
    build_run,
)
from experiments.collect_sql import CACHE_COALESCED, RawRun
from experiments.metrics.compute import compute
from experiments.metrics.model import PacingLag, RunOutcome
from experiments.metrics.store import read_metrics
from experiments.pending import pending_from_states, states_of
from experiments.report.render import write_run_metrics
from harness.commands import collect as cli

T = 1_750_000_000.0


def row(qid: str, intended: float, state: str | None, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "question_id": qid, "has_row": state is not None, "terminal_state": state,
        "dlq_reason": "invalid_request: 400" if state == "dead_lettered" else None,
        "rounds": 0, "llm_calls": 1, "failed_attempts": 0, "score": 0.7, "score_round0": 0.7,
        "access_count": 1, "intended_at": intended, "sent_at": intended,
        "first_attempt_at": intended + 0.1, "completed_at": intended + 0.5,
        "durable_at": intended + 1.0 if state else None, "hops": {}, "max_rounds": 1,
        "score_threshold": 0.4, "sent_ack_at": intended + 0.01, "sent_intended_at": intended,
    }
    base.update(over)
    return base


def raw_run(**over: Any) -> RawRun:
    raw = RawRun(
        experiment={"id": "e1", "name": "demo", "spec": {"seed": 7, "warmup_s": 2, "slo_s": 0,
                                                         "scoring": {"threshold": 0.35}},
                    "git_revision": "deadbeef", "summary": {"started_at": T, "ended_at": T + 30,
                                                            "sim_counters": {"requests": 9}}},
        questions=[row("q1", T + 1, "accepted"), row("q2", T + 2, "dead_lettered"),
                   row("q3", T + 3, None, has_row=False, llm_calls=None)],
        attempts=[{"question_id": "q1", "round": 0, "number": 1, "status": "ok",
                   "error_class": None, "started_at": T + 1.1, "ended_at": T + 1.4,
                   "delay_before_s": 0.0, "tier_wait_s": 0.0, "tier": None},
                  {"question_id": "q2", "round": 0, "number": 1, "status": "error",
                   "error_class": "invalid_request", "started_at": T + 2.1, "ended_at": T + 2.2,
                   "delay_before_s": 0.0, "tier_wait_s": 0.0, "tier": None}],
        in_flight_attempt_events=[{"question_id": "q3", "round": 0, "attempt": 1, "ts": T + 3.5,
                                   "attrs": {"started_at": T + 3.2, "status": "error",
                                             "error_class": "overload", "action": "backoff",
                                             "delay_s": 0.3}}],
        cache_hits=[{"question_id": "q1", "ts": T + 5.01,
                     "attrs": {"intended_at": T + 5, "access_count": 2,
                               "terminal_state": "accepted", "score": 0.7}}],
        windows=[{"event_id": "w", "ts": T + 10,
                  "attrs": {"window_start": T, "window_end": T + 10, "scored": 1, "accepted": 1}}],
        event_counts={CACHE_COALESCED: 4, "llm_attempt": 3},
        orphan_dead_letters={"invalid_json": 1},
        server_version="16.9",
    )
    for key, value in over.items():
        setattr(raw, key, value)
    return raw


def build(raw: RawRun | None = None, **kw: Any) -> Collected:
    kw.setdefault("collected_at", T + 100)
    kw.setdefault("git", lambda: "from-git")
    return build_run(raw or raw_run(), "e1", **kw)


def test_questions_attempts_and_stats() -> None:
    c = build()
    run, stats = c.run, c.stats
    assert [(q.question_id, q.state, q.cache_hit) for q in run.questions] == [
        ("q1", "accepted", False), ("q2", "dead_lettered", False), ("q3", "in_flight", False),
        ("q1", "accepted", True)]
    q3 = run.questions[2]
    assert q3.llm_calls == 1 and q3.failed_attempts == 1 and q3.durable_at is None
    assert len(run.attempts) == 3 and run.attempts[-1].question_id == "q3"
    assert stats.by_state == {"accepted": 1, "dead_lettered": 1, "in_flight": 1}
    assert (stats.llm_passes, stats.in_flight, stats.cache_hits, stats.coalesced) == (3, 1, 1, 4)
    assert stats.in_flight_attempts == 1 and stats.llm_attempt_events == 3
    assert stats.orphan_dead_letters == {"invalid_json": 1}
    assert len(run.windows) == 1 and run.windows[0].accepted == 1
    assert stats.load_window_source == "summary"


def test_in_flight_is_the_sensors_definition(caplog: pytest.LogCaptureFixture) -> None:
    """stats.in_flight / unseen come from experiments.pending over the same rows the sensor
    counts: a placeholder without a known send time (left out of the outcomes) is still in
    flight, and sends the database does not know of (per the stored load summary) are unseen."""
    raw = raw_run()
    assert raw.experiment is not None
    raw.experiment["summary"] = {"load": {"started_at": T, "ended_at": T + 30, "sent": 5,
                                          "acknowledged": 5, "acknowledged_questions": 5,
                                          "coalesced": 4}}
    raw.questions.append(row("q4", T + 4, None, has_row=True, intended_at=None,
                             sent_intended_at=None))  # a placeholder, its sent event missing
    c = build(raw)
    expected = pending_from_states(states_of(raw.questions), 5)
    assert (c.stats.in_flight, c.stats.unseen) == (expected.in_flight, expected.unseen) == (2, 1)
    assert c.stats.by_state["in_flight"] == 1 and c.stats.skipped_without_intended == 1
    assert "3 question(s) pending at collection" in caplog.text


def test_nothing_pending_when_every_sent_question_is_terminal() -> None:
    raw = raw_run(questions=[row("q1", T + 1, "accepted"), row("q2", T + 2, "dead_lettered")])
    assert raw.experiment is not None
    raw.experiment["summary"] = {"started_at": T, "ended_at": T + 30, "acknowledged": 2}
    stats = build(raw).stats
    assert (stats.in_flight, stats.unseen) == (0, 0) and "in_flight" not in stats.by_state


def test_meta_from_row_and_spec() -> None:
    m = build(versions={"kafka": "4.1.1"}).run.meta
    assert (m.run_name, m.seed, m.git_revision) == ("demo", 7, "deadbeef")
    assert (m.started_at, m.ended_at, m.warmup_s) == (T, T + 30, 2.0)
    assert m.slo_s is None  # 0 means none
    assert m.score_threshold == 0.35 and m.max_rounds == 1  # spec, then the answers rows
    assert m.component_versions == {"kafka": "4.1.1"} and m.collected_at == T + 100


def test_overrides_win() -> None:
    o = MetaOverrides(run_name="r", seed=1, git_revision="g", warmup_s=0, slo_s=3,
                      started_at=T - 1, ended_at=T + 5, component_versions={"kafka": "x"})
    c = build(overrides=o, versions={"kafka": "4.1.1", "python": "3.11"},
              spec={"seed": 99}, sim_counters={"requests": 4})
    m = c.run.meta
    assert (m.run_name, m.seed, m.git_revision, m.warmup_s, m.slo_s) == ("r", 1, "g", 0.0, 3.0)
    assert (m.started_at, m.ended_at) == (T - 1, T + 5)
    assert m.component_versions == {"kafka": "x", "python": "3.11"}
    assert c.run.spec == {"seed": 99}
    assert c.run.sim_counters == {"requests": 4.0}
    assert c.stats.load_window_source == "override"


def test_fallbacks_without_an_experiments_row() -> None:
    c = build(raw_run(experiment=None))
    m = c.run.meta
    assert m.run_name == "e1" and m.git_revision == "from-git" and m.seed is None
    assert (m.started_at, m.ended_at) == (T + 1, T + 5)  # the range of intended send times
    assert c.stats.load_window_source == "intended_range"
    assert c.run.sim_counters == {} and m.score_threshold == 0.4  # from the answers rows
    assert not c.stats.experiment_row


def test_nothing_stored_raises() -> None:
    with pytest.raises(ExperimentNotFound):
        build(RawRun(experiment=None))


def test_the_outcome_reaches_the_run_meta() -> None:
    assert (build().run.meta.status, build().run.meta.failure) == ("finished", None)
    outcome = RunOutcome(status="failed", failure="the drain timed out",
                         overlapping_runs=["exp-other"])
    meta = build(outcome=outcome).run.meta
    assert (meta.status, meta.failure) == ("failed", "the drain timed out")
    assert meta.overlapping_runs == ["exp-other"]
    assert compute(build(outcome=outcome).run).outcome.in_flight_at_collection == 1


def lagged(name: str, p50: float, p99: float, worst: float, late: int) -> RawRun:
    """The raw run with a load summary (nested under ``load``, as the runner stores it) holding
    the generator's ``Pacer.lag_stats()``."""
    raw = raw_run()
    raw.experiment = {**raw.experiment, "id": name, "name": name, "summary": {"load": {
        "started_at": T, "ended_at": T + 30, "acknowledged": 3,
        "lag": {"p50_lag_s": p50, "p99_lag_s": p99, "max_lag_s": worst, "late_sends": late}}}}
    return raw


def test_the_pacing_lag_reaches_the_run_and_its_metrics() -> None:
    run = build(lagged("e1", 0.001, 0.4, 0.7, 9)).run
    assert run.meta.pacing_lag == PacingLag(p50_s=0.001, p99_s=0.4, max_s=0.7, late_sends=9)
    lag = compute(run).pacing_lag
    assert lag is not None
    assert (lag.p50_s, lag.p99_s, lag.max_s, lag.late_sends) == (0.001, 0.4, 0.7, 9)
    assert build().run.meta.pacing_lag is None  # the summary holds no lag: unknown, not zero
    assert compute(build().run).pacing_lag is None


def test_repeats_keep_the_worst_pacing_lag(tmp_path: Path) -> None:
    a = build_run(lagged("r1", 0.003, 0.05, 1.2, 4), "r1", collected_at=T + 100, git=lambda: None)
    b = build_run(lagged("r2", 0.001, 0.6, 0.8, 7), "r2", collected_at=T + 100, git=lambda: None)
    write_run_metrics([a.run, b.run], tmp_path / "both")
    lag = read_metrics(tmp_path / "both").pacing_lag
    assert lag is not None
    assert (lag.p50_s, lag.p99_s, lag.max_s, lag.late_sends) == (0.003, 0.6, 1.2, 11)
    unknown = build_run(raw_run(), "r3", collected_at=T + 100, git=lambda: None)
    write_run_metrics([a.run, unknown.run], tmp_path / "one_unknown")
    assert read_metrics(tmp_path / "one_unknown").pacing_lag is None


def test_metrics_compute_on_the_collected_run() -> None:
    metrics = compute(build().run)
    assert metrics.counts.questions == 4
    assert metrics.counts.steady_in_flight == 1
    assert metrics.counts.duplicate_llm_question_ids == 0
    assert metrics.cache.hits == 1


def test_cli_collects_and_builds_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, Any] = {}

    def fake_collect_run(dsn: str, experiment_id: str, **kw: Any) -> Collected:
        seen.update(kw, experiment_id=experiment_id)
        return build(overrides=kw["overrides"])

    def fake_build_report(run: Any, out: Path, **kw: Any) -> Path:
        seen["report"] = (run.meta.run_name, Path(out), kw)
        return Path(out) / "index.html"

    monkeypatch.setattr(collect_mod, "collect_run", fake_collect_run)
    monkeypatch.setattr(report_mod, "build_report", fake_build_report)
    counters = tmp_path / "sim.json"
    counters.write_text(json.dumps({"before": {"since": 1, "total": 5, "by_status": {"200": 5}},
                                    "after": {"since": 1, "total": 8, "by_status": {"200": 8}}}))
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    out = tmp_path / "reports" / "run-a"
    spec_file = Path(specs.SPECS_DIR) / "demo.yaml"
    args = parser.parse_args(["collect", "e1", "--out", str(out), "--slo-s", "4",
                              "--sim-counters", str(counters), "--cooldown-s", "1",
                              "--spec", str(spec_file)])
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == str(out / "index.html")
    assert seen["experiment_id"] == "e1" and seen["sim_counters"]["requests"] == 3
    assert seen["spec"]["name"] == "demo" and seen["spec"]["workers"]  # validated, defaults filled
    assert seen["overrides"].run_name == "run-a" and seen["overrides"].slo_s == 4
    assert seen["report"] == ("run-a", out, {"cooldown_s": 1.0})
    saved = json.loads((out / cli.RUN_FILE).read_text())
    assert saved["meta"]["experiment_id"] == "e1"


def test_cli_unknown_experiment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(*a: Any, **kw: Any) -> Collected:
        raise ExperimentNotFound("nope")

    monkeypatch.setattr(collect_mod, "collect_run", missing)
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["collect", "nope", "--out", str(tmp_path / "r")])
    assert args.func(args) == 2
    assert not (tmp_path / "r").exists()


def test_stats_as_dict() -> None:
    assert CollectStats(coalesced=2).as_dict()["coalesced"] == 2


def test_fault_events_reach_the_run() -> None:
    fault = {"event_id": "f1", "ts": T + 8, "attrs": {
        "at_s": 8, "action": "kill", "target": "storage", "duration_s": 0, "status": 503,
        "worker": None, "started_at": T + 8, "ended_at": T + 8, "detail": "kill storage",
        "error": None}}
    collected = build(raw_run(faults=[fault, {**fault, "event_id": "f2"}]))
    assert [f.label for f in collected.run.faults] == ["kill storage"]
    assert collected.stats.faults == 1
    assert [f.label for f in compute(collected.run).faults] == ["kill storage"]


def test_each_attempt_gets_its_worker_and_the_metrics_count_per_worker() -> None:
    """The worker of each attempt comes from the ``llm_attempt`` events; q1's answer counts for
    the worker of its successful call, q2's failed call for its worker, and q3's call in flight
    for the worker its event names."""
    raw = raw_run(attempt_workers=[
        {"question_id": "q1", "round": 0, "attempt": 1, "ts": T + 1.4, "worker": "c0ffee01-0-1"},
        {"question_id": "q2", "round": 0, "attempt": 1, "ts": T + 2.2, "worker": "beef0002-0-1"},
    ])
    raw.in_flight_attempt_events[0]["attrs"]["worker"] = "beef0002-0-1"
    c = build(raw)
    assert [(a.question_id, a.worker) for a in c.run.attempts] == [
        ("q1", "c0ffee01-0-1"), ("q2", "beef0002-0-1"), ("q3", "beef0002-0-1")]
    assert c.stats.attempts_without_worker == 0
    rows = [(w.worker, w.label, w.questions_answered, w.attempts, w.errors)
            for w in compute(c.run).workers]
    assert rows == [("beef0002-0-1", "beef00", 0, 2, 2), ("c0ffee01-0-1", "c0ffee", 1, 1, 0)]


def test_attempts_without_a_worker_event_are_counted() -> None:
    c = build()
    assert c.stats.attempts_without_worker == 3
    assert compute(c.run).workers == []
