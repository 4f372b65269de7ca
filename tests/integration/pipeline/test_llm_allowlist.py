"""The API key goes only where it should: a worker calls the base URL a record names only when it
is on the allowlist fixed at start (its own base URL and ``HARNESS_LLM_ALLOWED_BASE_URLS``).

Three simulators: the worker's own, an allowed one and a foreign one. Records naming the
allowed one are answered by it; records naming the foreign one are dead-lettered with the
reason, and the foreign simulator never sees a request. The key is in no stored row and no log
line (the worker runs on a thread of this process, so caplog sees its logs).
"""

from __future__ import annotations

import logging

import pytest

from pipeline.datasets import synthesize
from pipeline.generator.load import run_load
from pipeline.generator.settings import GeneratorSettings
from pipeline.llm.sim.runner import SimulatorAdmin

SECRET = "sk-integration-allowlist-5e3f9c0a"
RETRY = {"kind": "fixed", "base_s": 0.1, "max_attempts": 3}


def _send(rig, exp: str, n: int, base_url: str, db_settings, seed: int) -> None:
    summary = run_load(exp, list(synthesize(n, seed=seed)), {"kind": "constant", "rate": 500},
                       {"retry": RETRY, "llm": {"base_url": base_url}}, count=n,
                       settings=GeneratorSettings(start_delay_s=0), kafka=rig.kafka,
                       topics=rig.topics, db_settings=db_settings)
    assert summary.acknowledged == n


def test_records_naming_a_foreign_base_url_are_dead_lettered_without_a_request(
        rig, simulator, new_experiment, db_settings, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    own, allowed, foreign = simulator("instant"), simulator("instant"), simulator("instant")
    monkeypatch.setenv("HARNESS_LLM_API_KEY", SECRET)
    monkeypatch.setenv("HARNESS_LLM_ALLOWED_BASE_URLS", allowed.base_url)
    rig.start_backend()
    rig.start_worker(own.base_url)

    n = 5
    exp_foreign, exp_allowed = new_experiment("foreign-url"), new_experiment("allowed-url")
    # credentials and a query in the URL: they must not reach the reason or a log line
    host_port = foreign.base_url.removeprefix("http://")
    _send(rig, exp_foreign, n, f"http://someone:pw-xyz@{host_port}?token=tok-xyz", db_settings,
          seed=21)
    _send(rig, exp_foreign, n, foreign.base_url, db_settings, seed=22)
    _send(rig, exp_allowed, n, allowed.base_url + "/", db_settings, seed=23)
    rig.wait_terminal(exp_foreign, 2 * n, timeout_s=60)
    rig.wait_terminal(exp_allowed, n, timeout_s=60)
    rig.check_alive()

    rows = rig.query("SELECT terminal_state, dlq_reason, llm_calls FROM answers "
                     "WHERE experiment_id = %s", (exp_foreign,))
    assert len(rows) == 2 * n
    reason = f"invalid_policy: llm.base_url not allowed: {foreign.base_url}"
    assert {r[:2] for r in rows} == {("dead_lettered", reason)}
    assert all(not r[2] for r in rows)  # no LLM call
    assert SimulatorAdmin(foreign.url).counters()["total"] == 0

    assert rig.query("SELECT terminal_state, count(*) FROM answers WHERE experiment_id = %s "
                     "GROUP BY 1", (exp_allowed,)) == [("accepted", n)]
    assert SimulatorAdmin(allowed.url).counters()["total"] == n
    assert SimulatorAdmin(own.url).counters()["total"] == 0

    stored = rig.query(
        "SELECT coalesce(a.dlq_reason, '') || coalesce(string_agg(t.detail, ''), '') "
        "FROM answers a LEFT JOIN attempts t USING (experiment_id, question_id) "
        "WHERE a.experiment_id IN (%s, %s) GROUP BY a.experiment_id, a.question_id, a.dlq_reason",
        (exp_foreign, exp_allowed))
    assert stored and not any(SECRET in r[0] or "pw-xyz" in r[0] or "tok-xyz" in r[0]
                              for r in stored)
    for text in (SECRET, "pw-xyz", "tok-xyz"):
        assert text not in caplog.text
