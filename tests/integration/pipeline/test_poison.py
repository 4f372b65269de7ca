"""Poison records on every topic this package consumes land in qa.dlq / dead_letters with their
coordinates and reason, and every service keeps running (valid records still flow after them)."""

from __future__ import annotations

import json

from pipeline_rig import wait_for

from pipeline.datasets import synthesize
from pipeline.generator.load import run_load
from pipeline.generator.settings import GeneratorSettings

POISON = {
    "questions": (b"\xff\xfe not utf-8", "invalid_encoding"),
    "retry": (b'{"experiment_id": "x", "question_id": "q"', "invalid_json"),
    "results": (b"[1, 2, 3]", "not_an_object"),
    "dlq": (b"", "empty"),
    "events": (json.dumps({"experiment_id": "x", "stage": "worker"}).encode(), "schema_violation"),
}


def test_poison_records_are_dead_lettered_and_services_go_on(
        rig, simulator, new_experiment, db_settings):
    sim = simulator("instant")
    exp = new_experiment("poison")
    rig.start_backend()
    rig.start_worker(sim.base_url)
    topics = {
        "questions": rig.topics.questions.name,
        "retry": rig.topics.tier("5s").topic.name,
        "results": rig.topics.results.name,
        "dlq": rig.topics.dlq.name,
        "events": rig.topics.events.name,
    }
    for role, (payload, _) in POISON.items():
        rig.produce_raw(topics[role], payload, key=f"poison-{role}".encode())
    # A result that decodes but is not final is poison for storage too.
    not_final = next(iter(synthesize(1, seed=3)))
    rig.produce_raw(topics["results"], json.dumps({
        "experiment_id": exp, "question": {"title": not_final.title},
        "question_id": "not-final", "intended_at": 1.0, "created_at": 1.0}).encode())

    def letters() -> dict[str, tuple]:
        rows = rig.query(
            "SELECT coalesce(source_topic, record_topic), code, kind, record_topic, source_partition,"
            " source_offset, payload_size FROM dead_letters WHERE record_topic LIKE %s",
            (rig.prefix.replace("_", r"\_") + "%",))
        return {r[0]: r for r in rows if r[1] != "schema_violation" or r[0] != topics["results"]} \
            if len(rows) >= len(POISON) + 1 else {}

    found = wait_for("a dead letter per poisoned topic", letters, timeout_s=60)
    for role, (payload, code) in POISON.items():
        row = found[topics[role]]
        assert row[1] == code, (role, row)
        assert row[2] == "raw" and row[4] is not None and row[5] is not None
        assert row[6] == len(payload)
    # records read from qa.questions / tiers / qa.events reached storage through qa.dlq;
    # the poison of qa.results and qa.dlq themselves was stored directly
    assert found[topics["questions"]][3] == topics["dlq"]
    assert found[topics["events"]][3] == topics["dlq"]
    assert found[topics["results"]][3] == topics["results"]
    assert rig.scalar("SELECT count(*) FROM dead_letters WHERE source_topic = %s AND "
                      "reason LIKE 'schema_violation: status%%'", (topics["results"],)) == 1

    # ... and everything still works.
    summary = run_load(exp, list(synthesize(10, seed=4)), {"kind": "constant", "rate": 200}, {},
                       count=10, settings=GeneratorSettings(start_delay_s=0), kafka=rig.kafka,
                       topics=rig.topics, db_settings=db_settings)
    assert summary.acknowledged == 10
    rig.wait_terminal(exp, 10, timeout_s=60)
    rig.check_alive()
    assert rig.scalar("SELECT count(*) FROM answers WHERE experiment_id=%s AND "
                      "terminal_state='accepted'", (exp,)) == 10
