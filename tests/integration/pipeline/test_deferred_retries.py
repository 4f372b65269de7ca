"""Rate limits and quotas: deferred through the retry-tier topics, released by the relay when due.

* rate_limited: the 429s' Retry-After is honoured (the next attempt starts no earlier), the
  records pass through qa.retry.5s, and every question is answered in the end;
* quota_window: insufficient_quota is deferred, then dead-lettered after the configured maximum
  (and a quota window that closes in time lets the deferred questions succeed).
"""

from __future__ import annotations

from pipeline_rig import read_topic

from pipeline.datasets import synthesize
from pipeline.generator.load import run_load
from pipeline.generator.settings import GeneratorSettings
from pipeline.llm.sim.runner import SimulatorAdmin

FAST = {"fixed_s": 0.01, "median_s": 0.02, "sigma": 0.2}


def _send(rig, exp, questions, policy, db_settings, rate=1000.0):
    summary = run_load(exp, questions, {"kind": "constant", "rate": rate}, policy,
                       count=len(questions), settings=GeneratorSettings(start_delay_s=0),
                       kafka=rig.kafka, topics=rig.topics, db_settings=db_settings)
    assert summary.acknowledged == len(questions)
    return summary


def test_rate_limited_retries_pass_through_tiers_and_honour_retry_after(
        rig, simulator, new_experiment, db_settings):
    sim = simulator("rate_limited", {
        "name": "rate_limited", "latency": FAST,
        "rate_limits": {"requests_per_min": 300, "tokens_per_min": 0, "retry_after": "seconds"},
    })
    exp = new_experiment("ratelimited")
    n = 330  # the bucket holds 300 requests and refills 5/s: about 30 questions get 429s
    questions = list(synthesize(n, seed=11))
    rig.start_backend()
    rig.start_worker(sim.base_url)
    policy = {"retry": {"kind": "exponential_jitter", "jitter": "full", "base_s": 0.5,
                        "cap_s": 3.0, "max_attempts": 30, "max_elapsed_s": 120,
                        "max_deferrals": 30}}
    _send(rig, exp, questions, policy, db_settings)
    rig.wait_terminal(exp, n, timeout_s=90)
    rig.check_alive()

    assert rig.query("SELECT terminal_state, count(*) FROM answers WHERE experiment_id=%s "
                     "GROUP BY 1", (exp,)) == [("accepted", n)]
    limited = rig.query(
        """SELECT a.deferred, a.tier, a.ended_at, a.delay_s, b.started_at, b.tier_wait_s
           FROM attempts a JOIN attempts b ON b.experiment_id = a.experiment_id
                AND b.question_id = a.question_id AND b.round = a.round AND b.number = a.number + 1
           WHERE a.experiment_id = %s AND a.error_class = 'rate_limited'""", (exp,))
    assert len(limited) >= 10, "the profile should have rate-limited some requests"
    for deferred, tier, ended, delay, next_start, tier_wait in limited:
        assert deferred and tier == "5s"
        assert delay >= 1.0  # max(policy delay, Retry-After: 1 s)
        assert next_start - ended >= delay - 0.005  # released no earlier than due
        assert tier_wait > 0
    # The server's hint as the client saw it, next to the wait chosen after it.
    hints = rig.query("SELECT (attrs->>'retry_after_s')::float, (attrs->>'delay_s')::float, "
                      "attrs->>'tier' FROM events WHERE experiment_id=%s AND kind='llm_attempt' "
                      "AND attrs->>'error_class' = 'rate_limited'", (exp,))
    assert hints and all(h == 1.0 and d >= h and t == "5s" for h, d, t in hints)
    # The records really went through the tier topic and the relay.
    deferrals = rig.scalar("SELECT sum(deferrals) FROM answers WHERE experiment_id=%s", (exp,))
    assert deferrals == len(limited)
    assert len(read_topic(rig.kafka, rig.topics.tier("5s").topic.name, expect=deferrals)) == deferrals
    assert rig.scalar("SELECT count(*) FROM events WHERE experiment_id=%s AND kind='hop' "
                      "AND attrs->>'hop' = 'relay.released'", (exp,)) >= deferrals - 5
    assert int(SimulatorAdmin(sim.url).counters()["by_status"].get("429", 0)) >= len(limited)


def test_quota_deferred_then_dead_lettered_after_max(rig, simulator, new_experiment, db_settings):
    sim = simulator("quota_window", {"name": "quota_window", "latency": FAST,
                                     "quota_windows": [{"start_s": 0}]})
    exp = new_experiment("quota")
    questions = list(synthesize(20, seed=12))
    rig.start_backend()
    rig.start_worker(sim.base_url)
    policy = {"retry": {"kind": "exponential", "base_s": 0.1, "quota_delay_s": 0.3,
                        "max_quota_deferrals": 2}}
    _send(rig, exp, questions, policy, db_settings)
    rig.wait_terminal(exp, 20, timeout_s=60)

    rows = rig.query("SELECT terminal_state, dlq_reason, llm_calls, deferrals FROM answers "
                     "WHERE experiment_id=%s", (exp,))
    assert len(rows) == 20
    assert {r[:2] for r in rows} == {("dead_lettered", "quota_exhausted: after 2 deferrals")}
    assert {r[2:] for r in rows} == {(3, 2)}  # three attempts, two deferrals each
    waits = rig.query("SELECT tier_wait_s FROM attempts WHERE experiment_id=%s AND number > 1",
                      (exp,))
    assert len(waits) == 40 and min(w for (w,) in waits) >= 0.3 - 0.005
    letters = rig.query("SELECT kind, code, stage, record_topic FROM dead_letters "
                        "WHERE experiment_id=%s", (exp,))
    assert len(letters) == 20
    assert set(letters) == {("envelope", "quota_exhausted", "worker", rig.topics.dlq.name)}

    # A quota window that closes while the questions wait in the tier: they succeed. The window
    # is counted in requests (the next 20), not seconds: a 1 s window closed before the first
    # request on a busy machine, and no question was deferred.
    SimulatorAdmin(sim.url).set_profile({"name": "quota_window", "latency": FAST,
                                         "quota_windows": [{"requests": 20}]})
    exp2 = new_experiment("quota-recovers")
    policy2 = {"retry": {"quota_delay_s": 0.3, "max_quota_deferrals": 10}}
    _send(rig, exp2, list(synthesize(20, seed=13)), policy2, db_settings)
    rig.wait_terminal(exp2, 20, timeout_s=60)
    assert rig.query("SELECT terminal_state, count(*) FROM answers WHERE experiment_id=%s "
                     "GROUP BY 1", (exp2,)) == [("accepted", 20)]
    # every refused request was one deferral, whichever question it belonged to
    assert rig.scalar("SELECT sum(deferrals) FROM answers WHERE experiment_id=%s", (exp2,)) == 20
    rig.check_alive()
