"""A worker killed with SIGKILL in the middle of a run: after its restart nothing is lost."""

from __future__ import annotations

import signal
import threading

from pipeline_rig import wait_for

from pipeline.datasets import synthesize
from pipeline.generator.load import run_load
from pipeline.generator.settings import GeneratorSettings
from pipeline.llm.sim.runner import SimulatorAdmin

N = 600


def test_sigkilled_worker_restarts_and_nothing_is_lost(
        rig, simulator, new_experiment, db_settings, tmp_path):
    sim = simulator("healthy", {"name": "healthy",
                                "latency": {"fixed_s": 0.05, "median_s": 0.2, "sigma": 0.3}})
    exp = new_experiment("crash")
    questions = list({q.id: q for q in synthesize(N + 20, seed=31)}.values())[:N]
    rig.start_backend()
    log_path = tmp_path / "worker.log"
    worker = rig.worker_process(sim.base_url, index=0, log_path=log_path)

    summary: dict = {}
    load = threading.Thread(target=lambda: summary.update(run_load(
        exp, questions, {"kind": "constant", "rate": 150}, {}, count=N,
        settings=GeneratorSettings(start_delay_s=0), kafka=rig.kafka, topics=rig.topics,
        db_settings=db_settings).to_dict()))
    load.start()
    stored = "SELECT count(*) FROM answers WHERE experiment_id=%s AND terminal_state IS NOT NULL"
    wait_for("the first answers", lambda: rig.scalar(stored, (exp,)) >= 100, timeout_s=60)
    in_flight_at_kill = SimulatorAdmin(sim.url).counters()["in_flight"]
    worker.send_signal(signal.SIGKILL)
    assert worker.wait(10) == -signal.SIGKILL
    done_at_kill = rig.scalar(stored, (exp,))
    assert done_at_kill < N, "the run should still have been in progress"

    rig.worker_process(sim.base_url, index=0, log_path=log_path)  # the supervisor's restart
    load.join(60)
    assert summary["acknowledged"] == N
    rig.wait_terminal(exp, N, timeout_s=120)

    rows = rig.query("SELECT question_id, terminal_state FROM answers WHERE experiment_id=%s",
                     (exp,))
    assert sorted(q for q, _ in rows) == sorted(q.id for q in questions)  # none lost, none extra
    assert {s for _, s in rows} == {"accepted"}
    # Some records were redone after the crash (at-least-once), absorbed by the upsert.
    served = SimulatorAdmin(sim.url).counters()["total"]
    assert served >= N
    # requests in flight at the kill never produced their answers: their records are redone
    assert in_flight_at_kill == 0 or served > N
