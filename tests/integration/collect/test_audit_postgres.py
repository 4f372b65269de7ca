"""`harness audit` on the real PostgreSQL: rows written by the pipeline's own storage, event-sink
and cache code (collect_scenario.py), a runs row as the runner writes it, then the audit.

- a clean run of two repeats (answered, regenerated, retried, dead-lettered questions, a cache
  hit, an orphan dead letter) audited by its label: clean, exit 0, audit.json written;
- a dirty repeat audited by its experiment id: one question lost (sent, never stored), one never
  sent (an answer without a ``generator.sent`` event), one with a duplicated LLM pass (its first
  attempt called again by a second worker, as after a crash replay): dirty, exit 1;
- the same rows while the run is still draining: in flight, exit 3;
- a target that names nothing: exit 2.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from collect_scenario import Scenario, Step

from experiments.audit import AUDIT_FILE, audit
from harness import cli
from pipeline.events import hops as H
from pipeline.generator.load import LoadSummary
from pipeline.messages import EventKind
from pipeline.storage.cache import CacheOutcome
from pipeline.storage.db import Database
from pipeline.storage.experiments import ExperimentStore
from pipeline.storage.runs import RunStore, Status
from pipeline.storage.settings import DatabaseSettings

T = 1_770_000_000.0
OK = Step("ok", 0.2)


@pytest.fixture
def new_run(db_settings: DatabaseSettings) -> Iterator[Callable[[str], str]]:
    """Factory of unique run labels; their runs rows are deleted after the test (the rows of
    their experiments go with ``new_experiment``)."""
    made: list[str] = []

    def make(name: str) -> str:
        label = f"test-audit-{name}-{uuid.uuid4().hex[:10]}"
        made.append(label)
        return label

    yield make
    if made:
        with Database(db_settings, application_name="test-audit-cleanup") as db:
            conn = db.conn()
            with conn, conn.cursor() as cur:
                cur.execute("DELETE FROM runs WHERE label = ANY(%s)", (made,))


@pytest.fixture(autouse=True)
def _stack_database(db_settings: DatabaseSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """`harness audit` reads the database these tests write."""
    monkeypatch.setenv("HARNESS_DB_DSN", db_settings.dsn.get_secret_value())


def _register(settings: DatabaseSettings, label: str, experiment_ids: list[str]) -> None:
    with Database(settings, application_name="test-audit") as db:
        store = ExperimentStore(db, clock=lambda: T - 10)
        for exp in experiment_ids:
            store.create(exp, "audit-it", {"name": "audit-it"})
        RunStore(db, clock=lambda: T - 10).create(label, "audit-it", {"name": "audit-it"},
                                                  experiment_ids)


def _store_load(settings: DatabaseSettings, exp: str, acknowledged_questions: int) -> None:
    """The load process's write: the load summary under ``load``, the experiment still running."""
    summary = LoadSummary(exp, started_at=T, ended_at=T + 10, finished_at=T + 10.1,
                          sent=acknowledged_questions, acknowledged=acknowledged_questions,
                          acknowledged_questions=acknowledged_questions)
    with Database(settings, application_name="test-audit") as db:
        store = ExperimentStore(db)
        store.mark_started(exp)
        store.mark_finished(exp, status="running", summary={"load": summary.to_dict()})


def _end(settings: DatabaseSettings, label: str, status: Status = "finished") -> None:
    with Database(settings, application_name="test-audit") as db:
        runs = RunStore(db)
        if status == "finished":
            runs.set_phase(label, "drained", drained_at=T + 30)
        runs.end(label, status, None if status == "finished" else "drain timed out")


def write_clean(settings: DatabaseSettings, exp: str) -> None:
    """Six questions sent, every one terminal once."""
    with Database(settings, application_name="test-audit") as db, \
            Database(settings, application_name="test-audit-cache", autocommit=True) as cache_db:
        s = Scenario(db, cache_db, exp)
        for i in range(3):
            s.answer(f"q{i:02d}", T + i, [([OK], 0.8)], e2e_s=1.0)
        s.answer("q03", T + 3, [([Step("overload", 0.1, delay_s=0.2, http_status=503), OK], 0.9)],
                 e2e_s=2.0)
        s.answer("q04", T + 4, [([OK], 0.2), ([OK], 0.3)], e2e_s=3.0)
        s.dead_letter_in_worker("q05", T + 5, [Step("invalid_request", 0.1, http_status=400)],
                                e2e_s=0.5)
        assert s.ask_again("q00", T + 6, in_flight=False) is CacheOutcome.HIT
        s.dead_letter_raw(json.dumps({"experiment_id": exp, "round": 1}).encode(), "invalid_json",
                          at=T + 7, durable_at=T + 7.1)  # no question id: reported, not dirty
        s.flush_events()
    _store_load(settings, exp, 6)


def write_dirty(settings: DatabaseSettings, exp: str) -> None:
    """q00 answered; q01 answered, its first attempt called twice; q02 sent, never stored (lost
    once the run is over); qx stored, never sent (unknown)."""
    with Database(settings, application_name="test-audit") as db, \
            Database(settings, application_name="test-audit-cache", autocommit=True) as cache_db:
        s = Scenario(db, cache_db, exp)
        s.answer("q00", T, [([OK], 0.8)], e2e_s=1.0)
        env = s.answer("q01", T + 1, [([OK], 0.8)], e2e_s=2.0)
        assert (env.round, env.attempt) == (0, 1)
        s.worker.about(env, EventKind.LLM_ATTEMPT, ts=T + 1.5, latency_s=0.2,
                       started_at=T + 1.3, status="ok", error_class=None, http_status=None,
                       delay_s=None, retry_after_s=None, action="answer", tier=None, worker="w2")
        s.in_flight("q02", T + 2, [])
        s.answer("qx", T + 3, [([OK], 0.8)], e2e_s=1.0)
        s.generator.events[:] = [e for e in s.generator.events
                                 if not (e.question_id == "qx"
                                         and e.attrs.get("hop") == H.GENERATOR_SENT)]
        s.flush_events()
    _store_load(settings, exp, 3)  # q00, q01, q02


def test_a_clean_run_audited_by_its_label(
    db_settings: DatabaseSettings, new_experiment: Callable[[str], str],
    new_run: Callable[[str], str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    label, exps = new_run("clean"), [new_experiment("audit-a"), new_experiment("audit-b")]
    _register(db_settings, label, exps)
    for exp in exps:
        write_clean(db_settings, exp)
    _end(db_settings, label)

    with Database(db_settings, application_name="test-audit") as db:
        result = audit(db, label)
    assert (result.run_label, result.verdict, result.exit_code) == (label, "clean", 0)
    assert [e.experiment_id for e in result.experiments] == exps
    for repeat in result.experiments:
        assert (repeat.acknowledged, repeat.sent_events) == (6, 6)
        assert repeat.terminal == {"accepted": 4, "low_quality": 1, "dead_lettered": 1}
        assert repeat.dead_letter_reasons == {"invalid_request": 1}
        assert (repeat.lost, repeat.unknown, repeat.duplicated, repeat.in_flight) == (0, 0, 0, 0)
        assert repeat.dead_letters_without_answer == {"invalid_json": 1}

    out = tmp_path / "reports" / label
    assert cli.main(["audit", label, "--write", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"audit of run {label} (finished, 2 experiment(s))"
                                              ": CLEAN")
    written = json.loads((out / AUDIT_FILE).read_text(encoding="utf-8"))
    assert written["verdict"] == "clean" and written["totals"]["acknowledged"] == 12


def test_a_dirty_repeat_audited_by_its_experiment_id(
    db_settings: DatabaseSettings, new_experiment: Callable[[str], str],
    new_run: Callable[[str], str], capsys: pytest.CaptureFixture[str],
) -> None:
    label, exp = new_run("dirty"), new_experiment("audit-dirty")
    _register(db_settings, label, [exp])
    write_dirty(db_settings, exp)
    _end(db_settings, label, "failed")

    with Database(db_settings, application_name="test-audit") as db:
        result = audit(db, exp)
    assert (result.run_label, result.run_status, result.verdict) == (label, "failed", "dirty")
    (found,) = result.experiments
    assert (found.acknowledged, found.lost, found.lost_ids) == (3, 1, ["q02"])
    assert (found.unknown, found.unknown_ids) == (1, ["qx"])
    assert (found.duplicated, found.extra_llm_calls) == (1, 1)
    assert found.duplicates[0].question_id == "q01"
    assert found.duplicates[0].details == ["round 0 attempt 1: 2 calls (workers w1, w2)"]

    assert cli.main(["audit", exp, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == 1 and len(data["reasons"]) == 2  # lost, unknown
    assert len(data["warnings"]) == 1  # the duplicated pass: a warning unless --strict
    assert cli.main(["audit", exp, "--json", "--strict"]) == 1
    assert len(json.loads(capsys.readouterr().out)["reasons"]) == 3


def test_a_draining_run_is_in_flight(
    db_settings: DatabaseSettings, new_experiment: Callable[[str], str],
    new_run: Callable[[str], str], capsys: pytest.CaptureFixture[str],
) -> None:
    label, exp = new_run("draining"), new_experiment("audit-draining")
    _register(db_settings, label, [exp])
    with Database(db_settings, application_name="test-audit") as db, \
            Database(db_settings, application_name="test-audit-cache", autocommit=True) as cdb:
        s = Scenario(db, cdb, exp)
        s.answer("q00", T, [([OK], 0.8)], e2e_s=1.0)
        s.in_flight("q01", T + 1, [Step("overload", 0.1, delay_s=1.0)])
        s.flush_events()
        RunStore(db).set_phase(label, "draining", load_finished_at=T + 2)
    _store_load(db_settings, exp, 2)

    assert cli.main(["audit", label]) == 3
    assert "IN FLIGHT (exit 3)" in capsys.readouterr().out
    with Database(db_settings, application_name="test-audit") as db:
        (found,) = audit(db, label).experiments
    assert (found.in_flight, found.lost, found.duplicated) == (1, 0, 0)


def test_a_target_that_names_nothing(new_experiment: Callable[[str], str]) -> None:
    assert cli.main(["audit", new_experiment("absent")]) == 2
