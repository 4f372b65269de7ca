"""metrics.json and questions.csv: versioned, valid JSON, typed CSV round trip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from experiments.metrics import (
    SCHEMA_VERSION,
    MetricsSchemaError,
    RunMetrics,
    compute,
    question_rows,
    read_metrics,
    read_questions,
    write_metrics,
    write_questions,
)
from experiments.metrics.synthetic import SyntheticProfile, make_run

SMALL = SyntheticProfile(duration_s=20.0, warmup_s=5.0, rate=5.0)


FIXTURES = Path(__file__).parent / "fixtures"


def _write_raw(run_dir: Path, data: dict[str, Any]) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "metrics.json"
    path.write_text(json.dumps(data))
    return path


def test_metrics_json_round_trip(tmp_path: Path) -> None:
    m = compute(make_run(1, profile=SMALL))
    path = write_metrics(m, tmp_path)
    raw = json.loads(path.read_text())  # strict JSON: NaN would have failed allow_nan=False
    assert raw["schema_version"] == SCHEMA_VERSION
    back = read_metrics(tmp_path)
    assert isinstance(back, RunMetrics)
    assert back == m
    assert back.headline == pytest.approx(m.headline)


def test_nan_becomes_null(tmp_path: Path) -> None:
    m = compute(make_run(1, profile=SMALL))
    m.throughput.drain_s = float("nan")
    m.latency.e2e_cdf.append((float("inf"), 1.0))
    path = write_metrics(m, tmp_path)
    raw = json.loads(path.read_text())
    assert raw["throughput"]["drain_s"] is None
    assert raw["latency"]["e2e_cdf"][-1] == [None, 1.0]


def test_a_renamed_field_fails_loudly_naming_the_file_and_the_field(tmp_path: Path) -> None:
    raw = json.loads(write_metrics(compute(make_run(1, profile=SMALL)), tmp_path).read_text())
    raw["latency"]["e2e"]["p99_9th"] = raw["latency"]["e2e"].pop("p99_9")
    path = _write_raw(tmp_path / "renamed", raw)
    with pytest.raises(MetricsSchemaError) as err:
        read_metrics(path.parent)
    message = str(err.value)
    assert str(path) in message and f"schema_version {SCHEMA_VERSION!r}" in message
    assert "latency.e2e.p99_9th" in message


def test_a_renamed_headline_key_fails_loudly(tmp_path: Path) -> None:
    raw = json.loads(write_metrics(compute(make_run(1, profile=SMALL)), tmp_path).read_text())
    raw["headline"]["e2e_p99"] = raw["headline"].pop("e2e_p99_s")
    with pytest.raises(MetricsSchemaError, match="unknown headline keys"):
        read_metrics(_write_raw(tmp_path / "renamed", raw).parent)


def test_an_old_1_0_file_loads_upgraded(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "metrics_v1_0.json", tmp_path / "metrics.json")
    m = read_metrics(tmp_path)
    assert m.schema_version == SCHEMA_VERSION
    assert m.run.run_name == "old-1-0"
    assert m.outcome.status == "finished" and m.outcome.failure is None
    assert m.outcome.stopped_early == "the LLM quota ran out after 3 quota errors"
    assert m.outcome.in_flight_at_collection is None  # 1.0 did not record it
    assert m.headline["e2e_p99_s"] == pytest.approx(m.latency.e2e.p99)


def test_a_file_without_version_is_read_as_1_0_if_it_fits(tmp_path: Path) -> None:
    raw = json.loads((FIXTURES / "metrics_v1_0.json").read_text())
    del raw["schema_version"]
    assert read_metrics(_write_raw(tmp_path / "ok", raw).parent).run.run_name == "old-1-0"
    del raw["latency"]
    path = _write_raw(tmp_path / "bad", raw)
    with pytest.raises(MetricsSchemaError) as err:
        read_metrics(path.parent)
    assert str(path) in str(err.value)
    assert "no schema_version (read as 1.0)" in str(err.value) and "latency" in str(err.value)


@pytest.mark.parametrize("version", ["2.0", "0.9", "1.7"])
def test_other_versions_are_refused_naming_the_file_and_the_version(
    tmp_path: Path, version: str
) -> None:
    path = _write_raw(tmp_path, {"schema_version": version})
    with pytest.raises(MetricsSchemaError) as err:
        read_metrics(tmp_path)
    assert str(path) in str(err.value) and f"schema_version {version!r}" in str(err.value)


def test_missing_or_broken_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MetricsSchemaError, match="does not exist"):
        read_metrics(tmp_path / "missing")
    (tmp_path / "metrics.json").write_text("{not json")
    with pytest.raises(MetricsSchemaError, match="not valid JSON"):
        read_metrics(tmp_path)
    (tmp_path / "metrics.json").write_text("[]")
    with pytest.raises(MetricsSchemaError, match="not a JSON object"):
        read_metrics(tmp_path)


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
