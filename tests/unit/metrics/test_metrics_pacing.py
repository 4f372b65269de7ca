"""The generator's pacing lag in the models: RunMeta.pacing_lag (RunData 3) -> metrics.json's
``pacing_lag`` (1.3, optional), its round trip, older files, and the worst of several repeats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.metrics import SCHEMA_VERSION, RunData, compute, read_metrics, write_metrics
from experiments.metrics.model import PacingLag
from experiments.metrics.schema import PacingLagStats
from experiments.metrics.synthetic import SyntheticProfile, make_run
from experiments.metrics.versions import parse_metrics

pytestmark = pytest.mark.unit

SMALL = SyntheticProfile(duration_s=20.0, warmup_s=5.0, rate=5.0)
LAG = PacingLag(p50_s=0.002, p99_s=0.35, max_s=0.9, late_sends=17)


def lagged_run() -> RunData:
    run = make_run(1, profile=SMALL)
    run.meta.pacing_lag = LAG.model_copy()
    return run


def test_metrics_json_round_trip_keeps_the_pacing_lag(tmp_path: Path) -> None:
    m = compute(lagged_run())
    assert m.pacing_lag == PacingLagStats(p50_s=0.002, p99_s=0.35, max_s=0.9, late_sends=17)
    path = write_metrics(m, tmp_path)
    assert json.loads(path.read_text())["pacing_lag"] == {
        "p50_s": 0.002, "p99_s": 0.35, "max_s": 0.9, "late_sends": 17}
    assert read_metrics(tmp_path).pacing_lag == m.pacing_lag


def test_run_data_round_trip_and_older_files_have_no_pacing_lag() -> None:
    run = lagged_run()
    assert RunData.from_json(run.to_json()).meta.pacing_lag == LAG
    data = json.loads(run.to_json())
    data["meta"].pop("pacing_lag")
    data["version"] = 2
    assert RunData.model_validate(data).meta.pacing_lag is None


@pytest.mark.parametrize("version", ["1.3", "1.2", "1.0"])
def test_metrics_files_written_without_it_load_with_it_unknown(version: str) -> None:
    data = compute(lagged_run()).model_dump(mode="json")
    data.pop("pacing_lag")
    data["schema_version"] = version
    if version != "1.3":
        data.pop("workers")
    if version == "1.0":
        data.pop("faults")
        data["run"]["stopped_early"] = data.pop("outcome")["stopped_early"]
    m = parse_metrics(data, "old/metrics.json")
    assert m.pacing_lag is None and m.schema_version == SCHEMA_VERSION


def test_a_run_without_it_computes_none() -> None:
    assert compute(make_run(1, profile=SMALL)).pacing_lag is None


def test_repeats_take_the_worst_figure_by_figure_and_sum_late_sends() -> None:
    a = PacingLagStats(p50_s=0.004, p99_s=0.1, max_s=2.0, late_sends=3)
    b = PacingLagStats(p50_s=0.001, p99_s=0.5, max_s=0.7, late_sends=5)
    worst = PacingLagStats.of_repeats([a, b])
    assert worst == PacingLagStats(p50_s=0.004, p99_s=0.5, max_s=2.0, late_sends=8)
    assert PacingLagStats.of_repeats([a]) == a
    assert PacingLagStats.of_repeats([a, None]) is None  # the unknown repeat may be the late one
    assert PacingLagStats.of_repeats([]) is None
