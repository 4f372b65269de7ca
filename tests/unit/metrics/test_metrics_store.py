"""metrics.json and questions.csv: versioned, valid JSON, typed CSV round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.metrics import (
    SCHEMA_VERSION,
    MetricsSchemaError,
    compute,
    question_rows,
    read_metrics,
    read_questions,
    write_metrics,
    write_questions,
)
from experiments.metrics.synthetic import SyntheticProfile, make_run

SMALL = SyntheticProfile(duration_s=20.0, warmup_s=5.0, rate=5.0)


def test_metrics_json_round_trip(tmp_path: Path) -> None:
    m = compute(make_run(1, profile=SMALL))
    path = write_metrics(m, tmp_path)
    raw = json.loads(path.read_text())  # strict JSON: NaN would have failed allow_nan=False
    assert raw["schema_version"] == SCHEMA_VERSION
    assert read_metrics(tmp_path)["headline"] == pytest.approx(m["headline"])


def test_nan_becomes_null(tmp_path: Path) -> None:
    write_metrics(
        {"schema_version": SCHEMA_VERSION, "x": float("nan"), "y": [float("inf")]}, tmp_path
    )
    assert read_metrics(tmp_path) == {"schema_version": SCHEMA_VERSION, "x": None, "y": [None]}


def test_other_schema_major_is_refused(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text(json.dumps({"schema_version": "2.0"}))
    with pytest.raises(MetricsSchemaError):
        read_metrics(tmp_path)
    with pytest.raises(MetricsSchemaError):
        read_metrics(tmp_path / "missing")


def test_questions_csv_round_trip_keeps_types(tmp_path: Path) -> None:
    run = make_run(2, profile=SMALL)
    rows = question_rows(run)
    write_questions(rows, tmp_path)
    back = read_questions(tmp_path)
    assert len(back) == len(run.questions)
    first = back[0]
    assert isinstance(first["question_id"], str)
    assert isinstance(first["steady"], bool)
    assert isinstance(first["e2e_s"], float)
    answered = [r for r in back if r["state"] == "accepted" and not r["cache_hit"]]
    assert all(r["llm_calls"] >= 1 for r in answered)
    assert read_questions(tmp_path / "missing") == []
