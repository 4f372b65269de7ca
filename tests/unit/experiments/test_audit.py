"""The audit's pure core (experiments.audit) on synthetic rows: clean, lost, in flight, duplicated
and unknown questions, when a run is over, and a run's verdict over its repeats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from experiments.audit import (
    AUDIT_FILE,
    AuditResult,
    audit_experiment,
    audit_rows,
    find_duplicates,
    is_over,
    write_audit,
)
from experiments.audit_sql import AuditRows, ExperimentRows, RunState
from harness import cli


def load(acked_questions: int) -> dict[str, Any]:
    """A LoadSummary.to_dict() (the counters the audit reads)."""
    return {"experiment_id": "e1", "sent": acked_questions, "acknowledged": acked_questions,
            "acknowledged_questions": acked_questions, "failed": 0}


def answer(qid: str, state: str | None, reason: str | None = None) -> dict[str, Any]:
    return {"question_id": qid, "terminal_state": state, "dlq_reason": reason}


def attempt(qid: str, rnd: int = 0, number: int = 1) -> dict[str, Any]:
    return {"question_id": qid, "round": rnd, "number": number}


def event(qid: str, rnd: int = 0, number: int = 1, calls: int = 1,
          workers: list[str] | None = None) -> dict[str, Any]:
    """A row of audit_sql.ATTEMPT_EVENTS: llm_attempt events per (question, round, attempt)."""
    return {"question_id": qid, "round": rnd, "attempt": number, "calls": calls,
            "workers": workers or ["w1"]}


def clean_rows(experiment_id: str = "e1") -> ExperimentRows:
    """q1 accepted after a retry, q2 regenerated then low_quality, q3 dead-lettered."""
    return ExperimentRows(
        experiment_id=experiment_id, status="running", summary={"load": load(3)},
        sends={"q1": 1, "q2": 1, "q3": 1},
        answers=[answer("q1", "accepted"), answer("q2", "low_quality"),
                 answer("q3", "dead_lettered", "invalid_request: HTTP 400")],
        attempts=[attempt("q1", 0, 1), attempt("q1", 0, 2), attempt("q2", 0, 1),
                  attempt("q2", 1, 1), attempt("q3", 0, 1)],
        attempt_events=[event("q1", 0, 1), event("q1", 0, 2), event("q2", 0, 1),
                        event("q2", 1, 1), event("q3", 0, 1)],
    )


class TestClean:
    def test_every_sent_question_terminal_once_is_clean(self) -> None:
        audit = audit_experiment(clean_rows(), over=True)
        assert audit.verdict == "clean" and audit.reasons == []
        assert (audit.acknowledged, audit.acknowledged_from) == (3, "load summary")
        assert audit.terminal == {"accepted": 1, "low_quality": 1, "dead_lettered": 1}
        assert audit.dead_letter_reasons == {"invalid_request": 1}
        assert (audit.in_flight, audit.lost, audit.unknown, audit.duplicated) == (0, 0, 0, 0)

    def test_a_question_sent_twice_with_the_cache_off_may_be_called_twice(self) -> None:
        rows = clean_rows()
        rows.sends["q1"] = 2
        rows.attempt_events = [event("q1", 0, 1, calls=2), event("q1", 0, 2), event("q2", 0, 1),
                               event("q2", 1, 1), event("q3", 0, 1)]
        assert audit_experiment(rows, over=True).verdict == "clean"

    def test_dropped_attempt_events_hide_nothing_that_makes_it_dirty(self) -> None:
        rows = clean_rows()
        rows.attempt_events = rows.attempt_events[:2]
        assert audit_experiment(rows, over=True).verdict == "clean"

    def test_a_dead_letter_without_question_is_reported_not_dirty(self) -> None:
        rows = clean_rows()
        rows.dead_letters = [{"question_id": None, "code": "invalid_json", "letters": 2},
                             {"question_id": "q3", "code": "invalid_request", "letters": 1}]
        audit = audit_experiment(rows, over=True)
        assert audit.dead_letters_without_answer == {"invalid_json": 2}
        assert audit.verdict == "clean"
        assert any("dead letters without an answers row: invalid_json 2" in line
                   for line in audit.lines())


class TestLostAndInFlight:
    def rows(self) -> ExperimentRows:
        """4 acknowledged: q4 sent but never stored, q5 a placeholder row, and one question
        whose sent event never reached the database."""
        rows = clean_rows()
        rows.summary = load(6)
        rows.sends.update(q4=1, q5=1)
        rows.answers.append(answer("q5", None))
        return rows

    def test_once_over_every_non_terminal_question_is_lost(self) -> None:
        audit = audit_experiment(self.rows(), over=True)
        assert audit.verdict == "dirty"
        assert (audit.lost, audit.in_flight, audit.pending) == (3, 0, 3)
        assert audit.lost_ids == ["q4", "q5"]
        assert audit.reasons == ["3 acknowledged question(s) lost (never terminal)"]
        assert any("1 acknowledged question(s) left no trace" in n for n in audit.notes)

    def test_while_draining_they_are_in_flight(self) -> None:
        audit = audit_experiment(self.rows(), over=False)
        assert audit.verdict == "in flight" and audit.reasons == []
        assert (audit.in_flight, audit.lost, audit.lost_ids) == (3, 0, [])

    def test_nothing_pending_but_not_over_is_still_in_flight(self) -> None:
        assert audit_experiment(clean_rows(), over=False).verdict == "in flight"

    def test_without_a_load_summary_the_sent_events_count(self) -> None:
        rows = self.rows()
        rows.summary = None
        audit = audit_experiment(rows, over=True)
        assert (audit.acknowledged, audit.acknowledged_from, audit.lost) == (5, "sent events", 2)
        assert any("no load summary" in n for n in audit.notes)


class TestDuplicated:
    def test_the_same_attempt_twice_is_a_duplicated_pass(self) -> None:
        rows = clean_rows()
        rows.attempt_events[0] = event("q1", 0, 1, calls=2, workers=["w1", "w2"])
        audit = audit_experiment(rows, over=True)
        assert (audit.duplicated, audit.extra_llm_calls) == (1, 1)
        dup = audit.duplicates[0]
        assert (dup.question_id, dup.sends, dup.extra_calls) == ("q1", 1, 1)
        assert dup.details == ["round 0 attempt 1: 2 calls (workers w1, w2)"]
        # a replay costs a call but loses nothing: a warning, dirty only when strict
        assert audit.verdict == "clean" and audit.reasons == []
        assert audit.warnings == [
            "1 question(s) had duplicated LLM passes (1 extra call(s)): records replayed by "
            "at-least-once delivery; each outcome was stored once"]
        audit.strict = True
        assert audit.verdict == "dirty"
        assert audit.reasons == ["1 question(s) had duplicated LLM passes (1 extra call(s))"]

    def test_a_round_read_twice_from_qa_questions_is_shown_beside_it(self) -> None:
        # a regeneration record produced twice: round 1 read at two offsets, called twice
        rows = clean_rows()
        rows.attempt_events[3] = event("q2", 1, 1, calls=2)
        rows.redelivered = {("q2", 1): ["3:11", "3:12"]}
        (dup,) = audit_experiment(rows, over=True).duplicates
        assert dup.details == ["round 1 attempt 1: 2 calls (workers w1); round 1 read from "
                               "qa.questions at 3:11, 3:12"]

    def test_a_duplicate_is_dirty_even_while_draining_when_strict(self) -> None:
        rows = clean_rows()
        rows.attempt_events.append(event("q3", 0, 1))
        audit = audit_experiment(rows, over=False)
        assert audit.verdict == "in flight" and audit.warnings
        audit.strict = True
        assert audit.verdict == "dirty"

    def test_calls_the_stored_history_does_not_explain_are_extra(self) -> None:
        # q1 accepted in round 0; a second copy of its record was regenerated into round 1
        rows = clean_rows()
        rows.attempt_events.append(event("q1", 1, 1))
        audit = audit_experiment(rows, over=True)
        assert audit.duplicates[0].details == ["round 1 attempt 1: not in the stored attempts "
                                               "(workers w1)"]
        assert audit.extra_llm_calls == 1

    def test_attempts_of_a_pass_in_flight_are_only_checked_for_repeats(self) -> None:
        dups = find_duplicates({"q1": 1}, {}, set(), [event("q1", 0, 1), event("q1", 0, 2)])
        assert dups == []
        dups = find_duplicates({"q1": 1}, {}, set(), [event("q1", 0, 2, calls=3)])
        assert [(d.question_id, d.extra_calls) for d in dups] == [("q1", 2)]

    def test_an_unexplained_repeat_counts_each_call_once(self) -> None:
        dups = find_duplicates({"q1": 1}, {"q1": {(0, 1)}}, {"q1"},
                               [event("q1", 0, 1), event("q1", 1, 1, calls=2)])
        assert dups[0].extra_calls == 2

    def test_details_follow_round_and_attempt_order(self) -> None:
        dups = find_duplicates({"q1": 1}, {}, set(),
                               [event("q1", 10, 1, calls=2), event("q1", 2, 1, calls=2)])
        assert [d.split(":")[0] for d in dups[0].details] == ["round 2 attempt 1",
                                                              "round 10 attempt 1"]


class TestUnknown:
    def test_rows_of_a_question_never_sent_are_unknown(self) -> None:
        rows = clean_rows()
        rows.answers.append(answer("qx", "accepted"))
        rows.attempts.append(attempt("qy"))
        audit = audit_experiment(rows, over=True)
        assert (audit.unknown, audit.unknown_ids) == (2, ["qx", "qy"])
        assert audit.reasons == ["2 question(s) in the database that were never sent"]

    def test_a_missing_sent_event_may_stand_for_a_question(self) -> None:
        # 4 acknowledged, 3 sent events: q4's event was dropped, its answer is stored
        rows = clean_rows()
        rows.summary = load(4)
        rows.answers.append(answer("q4", "accepted"))
        audit = audit_experiment(rows, over=True)
        assert (audit.unknown, audit.lost, audit.verdict) == (0, 0, "clean")
        assert any("1 sent event(s) are missing" in n for n in audit.notes)

    def test_unknown_is_not_decided_while_draining(self) -> None:
        rows = clean_rows()
        rows.answers.append(answer("qx", "accepted"))
        audit = audit_experiment(rows, over=False)
        assert (audit.unknown, audit.verdict) == (0, "in flight")


class TestOver:
    def run(self, status: str = "running", phase: str = "draining") -> RunState:
        return RunState(label="r1", status=status, phase=phase, experiment_ids=["e1", "e2"])

    @pytest.mark.parametrize("status", ["finished", "failed", "stopped"])
    def test_an_ended_run_is_over(self, status: str) -> None:
        assert is_over(self.run(status), "e2", {"e1": "running", "e2": "running"})

    @pytest.mark.parametrize("phase", ["drained", "reported"])
    def test_a_drained_run_is_over(self, phase: str) -> None:
        assert is_over(self.run(phase=phase), "e2", {"e1": "running", "e2": "running"})

    def test_a_draining_run_is_not(self) -> None:
        assert not is_over(self.run(), "e2", {"e1": "running", "e2": "running"})

    def test_a_repeat_is_over_once_the_next_one_started(self) -> None:
        statuses = {"e1": "running", "e2": "running"}
        assert is_over(self.run(phase="loading"), "e1", statuses)
        assert not is_over(self.run(phase="loading"), "e1", {"e1": "running", "e2": "created"})

    def test_an_experiment_without_a_run_goes_by_its_status(self) -> None:
        assert is_over(None, "e1", {"e1": "finished"})
        assert not is_over(None, "e1", {"e1": "running"})


class TestRunResult:
    def result(self, *rows: ExperimentRows, status: str = "finished") -> AuditResult:
        ids = [r.experiment_id for r in rows]
        run = RunState(label="r1", status=status, phase="reported" if status != "running"
                       else "draining", experiment_ids=ids)
        return audit_rows(AuditRows(target="r1", run=run, statuses=dict.fromkeys(ids, "running"),
                                    experiments=list(rows)))

    def test_every_repeat_clean_is_clean(self) -> None:
        result = self.result(clean_rows("e1"), clean_rows("e2"))
        assert (result.verdict, result.exit_code) == ("clean", 0)
        assert result.totals["acknowledged"] == 6
        assert result.totals["terminal_accepted"] == 2
        assert result.lines()[0] == "audit of run r1 (finished, 2 experiment(s)): CLEAN (exit 0)"

    def test_the_worst_repeat_decides(self) -> None:
        dirty = clean_rows("e2")
        dirty.sends["q9"] = 1
        dirty.summary = {"load": load(4)}
        result = self.result(clean_rows("e1"), dirty)
        assert (result.verdict, result.exit_code) == ("dirty", 1)
        assert result.reasons == ["e2: 1 acknowledged question(s) lost (never terminal)"]

    def test_a_run_still_draining_is_in_flight(self) -> None:
        result = self.result(clean_rows("e1"), clean_rows("e2"), status="running")
        # e1 is over (e2 started after it), e2 is not
        assert [e.verdict for e in result.experiments] == ["clean", "in flight"]
        assert (result.verdict, result.exit_code) == ("in flight", 3)

    def test_the_result_is_json_and_written_as_audit_json(self, tmp_path: Path) -> None:
        rows = clean_rows("e1")
        rows.attempt_events[0] = event("q1", 0, 1, calls=2)
        result = self.result(rows)
        for exp in result.experiments:
            exp.strict = True
        data = json.loads(json.dumps(result.to_dict()))
        assert data["verdict"] == "dirty" and data["exit_code"] == 1
        assert data["experiments"][0]["duplicates"][0]["question_id"] == "q1"
        path = write_audit(result, tmp_path / "reports" / "r1")
        assert path.name == AUDIT_FILE
        assert json.loads(path.read_text(encoding="utf-8")) == data


def test_the_command_is_registered() -> None:
    args = cli.build_parser().parse_args(["audit", "r1", "--json", "--write", "reports/r1"])
    assert (args.experiment, args.json, args.write) == ("r1", True, Path("reports/r1"))
    assert not args.strict and cli.build_parser().parse_args(["audit", "r1", "--strict"]).strict
