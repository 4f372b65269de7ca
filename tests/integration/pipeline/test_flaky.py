"""2,000 questions under the flaky profile (5% 503s): every question ends in exactly one terminal
state, no duplicate rows, and every LLM attempt the simulator served is recorded."""

from __future__ import annotations

from pipeline_rig import wait_for

from pipeline.datasets import synthesize
from pipeline.generator.load import run_load
from pipeline.generator.settings import GeneratorSettings
from pipeline.llm.sim.runner import SimulatorAdmin

N = 2000
POLICY = {"retry": {"kind": "exponential_jitter", "jitter": "full", "base_s": 0.05,
                    "cap_s": 0.5, "max_attempts": 8, "max_elapsed_s": 60}}


def test_flaky_2000_questions_one_terminal_state_each(rig, simulator, new_experiment, db_settings):
    sim = simulator("flaky", {"name": "flaky", "latency": {"fixed_s": 0.02, "median_s": 0.1,
                                                           "sigma": 0.5}})
    exp = new_experiment("flaky")
    questions = list({q.id: q for q in synthesize(N + 50, seed=7)}.values())[:N]
    assert len(questions) == N
    rig.start_backend()
    rig.start_worker(sim.base_url, index=0)
    rig.start_worker(sim.base_url, index=1)

    summary = run_load(exp, questions, {"kind": "constant", "rate": 500}, POLICY, count=N,
                       settings=GeneratorSettings(start_delay_s=0), kafka=rig.kafka,
                       topics=rig.topics, db_settings=db_settings)
    assert (summary.sent, summary.acknowledged, summary.failed) == (N, N, 0)
    rig.wait_terminal(exp, N, timeout_s=120)
    rig.check_alive()

    rows = rig.query("SELECT terminal_state, dlq_reason, count(*) FROM answers "
                     "WHERE experiment_id = %s GROUP BY 1, 2", (exp,))
    by_state = {(s, r): c for s, r, c in rows}
    assert sum(by_state.values()) == N  # one row per question (primary key): no duplicates
    assert rig.scalar("SELECT count(DISTINCT question_id) FROM answers WHERE experiment_id=%s",
                      (exp,)) == N
    for (state, reason), _ in by_state.items():
        assert state in ("accepted", "dead_lettered")
        assert (state == "dead_lettered") == (reason is not None)
    assert by_state.get(("accepted", None), 0) >= N * 0.99

    # Every attempt of the stored outcomes is in the attempts table, consistent with the rows.
    llm_calls, failed = rig.query(
        "SELECT sum(llm_calls), sum(failed_attempts) FROM answers WHERE experiment_id=%s",
        (exp,))[0]
    attempts, errors, overload = rig.query(
        "SELECT count(*), count(*) FILTER (WHERE status='error'), "
        "count(*) FILTER (WHERE error_class='overload') FROM attempts WHERE experiment_id=%s",
        (exp,))[0]
    assert attempts == llm_calls and errors == failed == overload
    assert failed > 0, "the flaky profile should have produced some 503s"

    # ... and every request the simulator served is an llm_attempt event (ground truth).
    served = SimulatorAdmin(sim.url).counters()
    status_503 = int(served["by_status"].get("503", 0))
    assert served["total"] >= attempts
    wait_for("every llm_attempt event in PostgreSQL", lambda: rig.scalar(
        "SELECT count(*) FROM events WHERE experiment_id=%s AND kind='llm_attempt'", (exp,)
    ) == served["total"], timeout_s=60)
    assert rig.scalar("SELECT count(*) FROM events WHERE experiment_id=%s AND kind='llm_attempt' "
                      "AND attrs->>'http_status' = '503'", (exp,)) == status_503
    # in-worker backoff (overload) is recorded as the wait before the next attempt
    assert rig.scalar("SELECT count(*) FROM attempts WHERE experiment_id=%s AND "
                      "delay_before_s > 0", (exp,)) > 0
