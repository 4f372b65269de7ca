"""The happy path: questions through workers, the stand-in scorer and storage."""

from __future__ import annotations

from pipeline.datasets import synthesize
from pipeline.generator.load import run_load
from pipeline.generator.settings import GeneratorSettings


def test_questions_reach_storage(rig, simulator, new_experiment, db_settings):
    sim = simulator("instant")
    exp = new_experiment("smoke")
    rig.start_backend()
    rig.start_worker(sim.base_url)
    questions = list(synthesize(50, seed=1))
    summary = run_load(exp, questions, {"kind": "constant", "rate": 500}, {}, count=50,
                       settings=GeneratorSettings(start_delay_s=0), kafka=rig.kafka,
                       topics=rig.topics, db_settings=db_settings)
    assert summary.sent == 50 and summary.acknowledged == 50
    rig.wait_terminal(exp, 50, timeout_s=60)
    rig.check_alive()
    assert rig.scalar("SELECT count(*) FROM answers WHERE experiment_id=%s AND "
                      "terminal_state='accepted'", (exp,)) == 50
