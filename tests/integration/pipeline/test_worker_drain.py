"""SIGTERM drains a worker: its records in progress finish and are committed before it exits,
so its successor does not process any of them again."""

from __future__ import annotations

import signal
import threading

from pipeline_rig import wait_for

from pipeline.datasets import synthesize
from pipeline.generator.load import run_load
from pipeline.generator.settings import GeneratorSettings
from pipeline.llm.sim.runner import SimulatorAdmin

N = 200


def test_sigterm_drains_and_commits(rig, simulator, new_experiment, db_settings, tmp_path):
    sim = simulator("instant", {"name": "instant", "latency": {"fixed_s": 0.5}})
    admin = SimulatorAdmin(sim.url)
    exp = new_experiment("drain")
    questions = list({q.id: q for q in synthesize(N + 20, seed=41)}.values())[:N]
    rig.start_backend()
    log_path = tmp_path / "worker.log"
    small = {"HARNESS_WORKER_CONCURRENCY": "40", "HARNESS_WORKER_MAX_PENDING": "40"}
    worker = rig.worker_process(sim.base_url, index=0, log_path=log_path, env=small)
    wait_for("the worker's assignment", lambda: log_path.exists()
             and "worker assigned" in log_path.read_text(), timeout_s=60)

    load = threading.Thread(target=run_load, args=(exp, questions, {"kind": "constant",
                                                                    "rate": 100}, {}),
                            kwargs={"count": N, "settings": GeneratorSettings(start_delay_s=0),
                                    "kafka": rig.kafka, "topics": rig.topics,
                                    "db_settings": db_settings})
    load.start()
    wait_for("the worker to be busy", lambda: admin.counters()["in_flight"] >= 10, timeout_s=60,
             interval_s=0.05)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0
    log = log_path.read_text()
    assert "draining" in log and "worker stopped" in log
    served_by_first = admin.counters()["total"]
    assert 0 < served_by_first < N

    rig.worker_process(sim.base_url, index=0, log_path=tmp_path / "worker2.log", env=small)
    load.join(60)
    rig.wait_terminal(exp, N, timeout_s=120)
    assert rig.scalar("SELECT count(*) FROM answers WHERE experiment_id=%s AND "
                      "terminal_state='accepted'", (exp,)) == N
    assert admin.counters()["total"] == N  # nothing was answered twice
