"""Repeated questions are served from storage: access count up, a cache_hit event, no LLM call."""

from __future__ import annotations

from pipeline_rig import wait_for

from pipeline.datasets import synthesize
from pipeline.generator.load import run_load
from pipeline.generator.settings import GeneratorSettings
from pipeline.llm.sim.runner import SimulatorAdmin


def _load(rig, exp, questions, db_settings, count, repeat_share=0.0, seed=0):
    return run_load(exp, questions, {"kind": "constant", "rate": 500}, {}, count=count,
                    repeat_share=repeat_share, seed=seed,
                    settings=GeneratorSettings(start_delay_s=0), kafka=rig.kafka,
                    topics=rig.topics, db_settings=db_settings)


def test_answered_questions_are_cache_hits(rig, simulator, new_experiment, db_settings):
    sim = simulator("instant")
    admin = SimulatorAdmin(sim.url)
    exp = new_experiment("cache")
    questions = list(synthesize(20, seed=21))
    rig.start_backend()
    rig.start_worker(sim.base_url)

    first = _load(rig, exp, questions, db_settings, count=20)
    assert (first.sent, first.cache_hits) == (20, 0)
    rig.wait_terminal(exp, 20, timeout_s=60)
    calls_before = admin.counters()["total"]
    assert calls_before == 20

    again = _load(rig, exp, questions, db_settings, count=20, seed=1)
    assert (again.sent, again.cache_hits, again.coalesced) == (0, 20, 0)
    assert admin.counters()["total"] == calls_before  # no LLM call
    assert rig.query("SELECT DISTINCT access_count FROM answers WHERE experiment_id=%s",
                     (exp,)) == [(2,)]
    hits = wait_for("20 cache_hit events", lambda: rig.query(
        "SELECT attrs FROM events WHERE experiment_id=%s AND kind='cache_hit'", (exp,)
    ) if rig.scalar("SELECT count(*) FROM events WHERE experiment_id=%s AND kind='cache_hit'",
                    (exp,)) == 20 else None, timeout_s=30)
    assert all(a["terminal_state"] == "accepted" and a["access_count"] == 2 for (a,) in hits)
    rig.check_alive()


def test_repeats_within_a_run_make_one_llm_pass_per_question(
        rig, simulator, new_experiment, db_settings):
    sim = simulator("instant")
    exp = new_experiment("repeats")
    questions = list(synthesize(10, seed=22))
    rig.start_backend()
    rig.start_worker(sim.base_url)

    summary = _load(rig, exp, questions, db_settings, count=60, repeat_share=0.6, seed=5)
    assert summary.asked == 60
    assert summary.sent == summary.fresh_questions <= 10
    assert summary.sent + summary.cache_hits + summary.coalesced == 60
    rig.wait_terminal(exp, summary.sent, timeout_s=60)
    # every ask is counted on its question's row; each question reached the LLM once
    assert rig.scalar("SELECT sum(access_count) FROM answers WHERE experiment_id=%s", (exp,)) == 60
    assert SimulatorAdmin(sim.url).counters()["total"] == summary.sent
