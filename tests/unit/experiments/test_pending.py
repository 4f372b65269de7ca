"""One definition of "pending / in flight" for the DAG's sensor and the collector
(experiments.pending), on the cases where the two used to disagree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from experiments import runner
from experiments.collect_map import question_from_row
from experiments.collect_sql import PASS_STATES, QUESTIONS, pass_states
from experiments.pending import (
    TERMINAL,
    Pending,
    acknowledged_questions,
    is_terminal,
    pending_from_states,
    states_of,
)

T = 1_750_000_000.0


def load(sent: int, *, acked: int | None = None, questions: int | None = None,
         **over: Any) -> dict[str, Any]:
    """A LoadSummary.to_dict() (only the counters that matter here)."""
    acked = sent if acked is None else acked
    return {"experiment_id": "e1", "sent": sent, "acknowledged": acked,
            "acknowledged_questions": acked if questions is None else questions,
            "failed": sent - acked, "cache_hits": 0, "coalesced": 0, "finished_at": T, **over}


def row(qid: str, state: str | None, **over: Any) -> dict[str, Any]:
    """A row of collect_sql.QUESTIONS."""
    return {"question_id": qid, "has_row": state is not None, "terminal_state": state,
            "intended_at": T, "sent_ack_at": T + 0.01, "sent_intended_at": T, **over}


def pending_of_rows(rows: list[dict[str, Any]], summary: dict[str, Any]) -> Pending:
    return pending_from_states(states_of(rows), acknowledged_questions(summary))


class FakeCursor:
    """Answers every query with the rows ``rows_for(params)`` gives."""

    def __init__(self, rows_for: Callable[[dict[str, Any]], list[tuple[Any, ...]]]) -> None:
        self.rows_for = rows_for
        self.rows: list[tuple[Any, ...]] = []
        self.executed: list[tuple[str, dict[str, Any]]] = []

    def execute(self, sql: str, params: dict[str, Any]) -> None:
        self.executed.append((sql, params))
        self.rows = self.rows_for(params)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class FakeConn:
    """A connection of FakeDb: a transaction context, cursors from the database."""

    def __init__(self, db: FakeDb) -> None:
        self.db = db

    def __enter__(self) -> FakeConn:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def cursor(self) -> FakeCursor:
        return self.db.cursor()


class FakeDb:
    """Stands in for runner._db(): passes per state per experiment, as PASS_STATES counts them."""

    def __init__(self, states: dict[str, list[tuple[Any, ...]]]) -> None:
        self.states = states
        self.cursors: list[FakeCursor] = []
        self.closed = 0

    def __call__(self) -> FakeDb:
        return self

    def __enter__(self) -> FakeDb:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed += 1

    def conn(self) -> FakeConn:
        return FakeConn(self)

    def cursor(self) -> FakeCursor:
        cur = FakeCursor(lambda params: self.states[params["exp"]])
        self.cursors.append(cur)
        return cur


class TestDefinition:
    def test_coalesced_asks_are_not_subtracted_from_the_sends(self) -> None:
        # 5 asks: q1, q2, q3 sent; q2 and q3 asked again while in flight -> coalesced, nothing
        # sent (q3's ask made a placeholder row). `sent` already leaves them out: the sensor's old
        # count, sent - coalesced - terminal = 3 - 2 - 1 = 0, passed with q2 and q3 in flight.
        rows = [row("q1", "accepted"), row("q2", None, has_row=False), row("q3", None)]
        left = pending_of_rows(rows, load(3, asked=5, coalesced=2))
        assert (left.in_flight, left.unseen, left.total) == (2, 0, 2)

    def test_a_question_sent_twice_is_one_pass(self) -> None:
        # the cache off: q1 sent again; one answers row per (experiment, question): the old count
        # (sent - terminal = 1) never drained
        left = pending_of_rows([row("q1", "accepted"), row("q2", "low_quality")],
                               load(3, questions=2))
        assert left.total == 0 and left.known == 2

    def test_cache_hits_are_not_passes(self) -> None:
        left = pending_of_rows([row("q1", "accepted")], load(1, asked=4, cache_hits=3))
        assert left.total == 0

    @pytest.mark.parametrize("state", [None, *TERMINAL, "retrying"])
    def test_the_sensor_and_the_collectors_mapping_agree_on_every_state(
            self, state: str | None) -> None:
        in_flight = pending_from_states({state: 1}, 1).in_flight == 1
        q = question_from_row(row("q1", state))
        assert q is not None
        assert in_flight == (q.state == "in_flight") == (not is_terminal(state))

    def test_an_unknown_stored_state_is_in_flight(self) -> None:
        left = pending_from_states({"accepted": 1, "retrying": 1}, 2)
        assert (left.in_flight, left.total) == (1, 1)

    def test_sends_the_database_does_not_know_yet_are_pending(self) -> None:
        # the generator.sent events of q4 and q5 are still on their way to the event sink
        rows = [row(f"q{i}", "accepted") for i in range(1, 4)]
        left = pending_of_rows(rows, load(5))
        assert (left.known, left.in_flight, left.unseen, left.total) == (3, 0, 2, 2)
        assert left.describe() == "0 in flight, 2 sent but not yet in the database, of 5 sent"

    def test_a_terminal_row_without_its_sent_event_is_known_and_done(self) -> None:
        rows = [row("q1", "dead_lettered", sent_ack_at=None, sent_intended_at=None),
                row("q2", "accepted")]
        assert pending_of_rows(rows, load(2)).total == 0

    def test_failed_sends_are_not_pending(self) -> None:
        left = pending_of_rows([row("q1", "accepted"), row("q2", "accepted")], load(3, acked=2))
        assert left.total == 0

    def test_more_known_than_acknowledged_never_goes_below_zero(self) -> None:
        # a send reported failed that reached Kafka after all: known, and in flight
        left = pending_of_rows([row("q1", "accepted"), row("q2", None)], load(2, acked=1))
        assert (left.in_flight, left.unseen) == (1, 0)

    def test_without_a_load_summary_only_the_known_passes_count(self) -> None:
        left = pending_of_rows([row("q1", None)], {})
        assert (left.in_flight, left.unseen, left.acknowledged) == (1, 0, None)


@pytest.mark.parametrize(("summary", "expected"), [
    ({"sent": 9, "acknowledged": 8, "acknowledged_questions": 7}, 7),
    ({"load": {"sent": 9, "acknowledged": 8, "acknowledged_questions": 7}}, 7),
    ({"sent": 9, "acknowledged": 8}, 8),  # written before acknowledged_questions existed
    ({"sent": 9}, 9),
    ({"report_dir": "r", "load": None}, None),
    (None, None),
])
def test_acknowledged_questions_from_a_load_summary(summary: dict[str, Any] | None,
                                                    expected: int | None) -> None:
    assert acknowledged_questions(summary) == expected


class TestSql:
    def test_the_sensor_counts_the_collectors_rows(self) -> None:
        assert QUESTIONS in PASS_STATES
        assert "GROUP BY q.terminal_state" in PASS_STATES
        # known passes: the sent events and the answers rows, either one is enough
        assert "FULL OUTER JOIN sent" in QUESTIONS

    def test_pass_states_reads_counts_per_state(self) -> None:
        cur = FakeCursor(lambda params: [(None, 2), ("accepted", 5)])
        assert pass_states(cur, "e1") == {None: 2, "accepted": 5}
        assert cur.executed[0][0] == PASS_STATES and cur.executed[0][1]["exp"] == "e1"


# -- the runner (the DAG's sensor and the drain between repeats) ----------------------------------


def handle(*loads: dict[str, Any]) -> runner.RunHandle:
    ids = [f"e{i + 1}" for i in range(len(loads))]
    return runner.RunHandle(name="demo", label="demo", experiment_ids=ids, report_dir="r",
                            load=list(loads))


def test_the_sensor_counts_in_flight_and_unseen_passes_of_every_repeat(
        monkeypatch: pytest.MonkeyPatch) -> None:
    db = FakeDb({"e1": [("accepted", 3)],
                 "e2": [("accepted", 2), (None, 1)]})  # + 1 sent, not in the database yet
    monkeypatch.setattr(runner, "_db", db)
    assert runner.pending(handle(load(3, coalesced=2), load(4))) == 2
    assert all(sql == PASS_STATES for cur in db.cursors for sql, _ in cur.executed)
    assert db.closed == 2  # a connection per poke, closed


def test_the_sensor_sees_nothing_pending_once_every_pass_is_terminal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "_db", FakeDb({"e1": [("accepted", 2), ("dead_lettered", 1)]}))
    assert runner.pending(handle(load(4, questions=3, coalesced=5, cache_hits=2))) == 0


def test_the_drain_fails_naming_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "_db", FakeDb({"e1": [("accepted", 1), (None, 2)]}))
    with pytest.raises(runner.DrainTimeout, match=r"^3 questions of e1 still in flight") as err:
        runner.wait_until_drained(handle(load(4)), "e1", timeout_s=-1)
    assert "2 in flight, 1 sent but not yet in the database, of 4 sent" in str(err.value)
