"""Per-worker figures (experiments/metrics/workers.py): who answered what, short distinct labels,
and the versions of the models that carry them (RunData 3, metrics.json 1.3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.metrics import (
    SCHEMA_VERSION,
    RunData,
    RunMeta,
    compute,
    read_metrics,
    write_metrics,
)
from experiments.metrics.model import RUN_DATA_VERSION, LlmAttempt, QuestionOutcome
from experiments.metrics.synthetic import SyntheticProfile, make_run
from experiments.metrics.versions import parse_metrics
from experiments.metrics.workers import worker_labels, workers_section

T = 1_750_000_000.0
SMALL = SyntheticProfile(duration_s=20.0, warmup_s=5.0, rate=5.0)
FLEET = ("3f2a9c1b7d4e-0-1", "8b01d2aa0000-0-1", "c4e5f6000000-0-1")


def question(qid: str, state: str = "accepted", **over: object) -> QuestionOutcome:
    return QuestionOutcome.model_validate(
        {"question_id": qid, "intended_at": T, "durable_at": T + 5, "state": state, **over})


def attempt(qid: str, rnd: int, n: int, status: str, worker: str | None,
            duration_s: float = 0.5) -> LlmAttempt:
    start = T + 10 * rnd + n
    return LlmAttempt(question_id=qid, round=rnd, attempt=n, started_at=start,
                      ended_at=start + duration_s, status=status, worker=worker,
                      error_class=None if status == "ok" else "overload")


def with_fleet(run: RunData) -> RunData:
    """The run's attempts spread over three compose replicas, by question."""
    order = sorted({a.question_id for a in run.attempts})
    for a in run.attempts:
        a.worker = FLEET[order.index(a.question_id) % len(FLEET)]
    return run


def test_a_question_counts_for_the_worker_of_its_final_successful_call() -> None:
    questions = [
        # round 0 answered by a, sent back, round 1 answered by b after b's failed attempt
        question("q1", rounds=1),
        question("q2"),  # a failed, b answered
        question("q3", "dead_lettered"),  # failed on a: calls, no answer
        question("q4", "in_flight"),  # a call so far, no answer
        question("q2", cache_hit=True),  # a cache hit: no call, no answer of a worker
    ]
    attempts = [
        attempt("q1", 0, 1, "ok", "h-0-1", 0.2), attempt("q1", 1, 1, "error", "h-1-2", 0.4),
        attempt("q1", 1, 2, "ok", "h-1-2", 0.6),
        attempt("q2", 0, 1, "error", "h-0-1", 1.0), attempt("q2", 0, 2, "ok", "h-1-2", 0.8),
        attempt("q3", 0, 1, "error", "h-0-1", 0.1),
        attempt("q4", 0, 1, "ok", None, 0.3),
    ]
    rows = workers_section(questions, attempts)
    got = [(r["worker"], r["label"], r["questions_answered"], r["attempts"], r["errors"])
           for r in rows]
    assert got == [("h-0-1", "#0", 0, 3, 2), ("h-1-2", "#1", 2, 3, 1), (None, "unknown", 0, 1, 0)]
    assert rows[1]["attempt_p50_s"] == pytest.approx(0.6, rel=1e-3)
    assert rows[1]["attempt_p99_s"] == pytest.approx(0.8, rel=1e-3)


def test_no_row_when_no_attempt_names_its_worker() -> None:
    assert workers_section([question("q1")], [attempt("q1", 0, 1, "ok", None)]) == []
    assert compute(make_run(1, profile=SMALL)).workers == []


@pytest.mark.parametrize(("ids", "labels"), [
    # one host (the local stack): the index
    (["devbox-0-4242", "devbox-1-4243"], ["#0", "#1"]),
    # compose replicas: every index is 0, the container ids (hosts) differ
    (list(FLEET), ["3f2a9c", "8b01d2", "c4e5f6"]),
    # hosts alike in their first six characters are cut later
    (["abcdef01-0-1", "abcdef02-0-1"], ["abcdef01", "abcdef02"]),
    # a worker restarted during the run: the pid tells the two apart
    (["devbox-0-10", "devbox-0-20", "devbox-1-11"], ["#0 pid 10", "#0 pid 20", "#1"]),
    # a host with hyphens; several indexes on one of two hosts
    (["node-a-0-1", "node-a-1-2", "node-b-0-3"], ["node-a #0", "node-a #1", "node-b"]),
    # an id of another shape is kept whole
    (["worker", "devbox-2-9"], ["worker", "#2"]),
])
def test_labels_are_short_and_distinct(ids: list[str], labels: list[str]) -> None:
    got = worker_labels(ids)
    assert [got[i] for i in ids] == labels
    assert len(set(got.values())) == len(ids)


def test_labels_fall_back_to_the_ids_when_short_ones_collide() -> None:
    ids = ["#0", "devbox-0-1"]  # the second would read "#0" too
    assert worker_labels(ids) == {i: i for i in ids}


def test_compute_and_metrics_json_round_trip(tmp_path: Path) -> None:
    run = with_fleet(make_run(1, profile=SMALL))
    m = compute(run)
    assert [w.worker for w in m.workers] == list(FLEET)
    assert [w.label for w in m.workers] == ["3f2a9c", "8b01d2", "c4e5f6"]
    answered = [q for q in run.questions if not q.cache_hit and q.state in ("accepted",
                                                                              "low_quality")]
    assert sum(w.questions_answered for w in m.workers) == len(answered)
    assert sum(w.attempts for w in m.workers) == len(run.attempts)
    assert sum(w.errors for w in m.workers) == sum(a.status == "error" for a in run.attempts)
    write_metrics(m, tmp_path)
    assert read_metrics(tmp_path).workers == m.workers


def test_run_data_round_trip_and_version_2_files_load_without_workers() -> None:
    run = with_fleet(make_run(1, profile=SMALL))
    assert run.version == RUN_DATA_VERSION == 3
    back = RunData.from_json(run.to_json())
    assert [a.worker for a in back.attempts] == [a.worker for a in run.attempts]
    data = json.loads(run.to_json())
    for a in data["attempts"]:
        a.pop("worker")
    data["version"] = 2
    old = RunData.model_validate(data)
    assert old.version == 2 and {a.worker for a in old.attempts} == {None}


def test_metrics_1_2_files_load_with_no_workers() -> None:
    data = compute(with_fleet(make_run(1, profile=SMALL))).model_dump(mode="json")
    data.pop("workers")
    data["schema_version"] = "1.2"
    m = parse_metrics(data, "old/metrics.json")
    assert m.workers == [] and m.schema_version == SCHEMA_VERSION == "1.3"
    empty = compute(RunData(meta=RunMeta(run_name="e", experiment_id="e", started_at=0,
                                         ended_at=5)))
    assert empty.workers == []
