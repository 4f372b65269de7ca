"""Per-fault metrics: recovery time, delayed questions, extra LLM calls; the model's versions."""

from __future__ import annotations

import json

import pytest

from experiments.metrics import SCHEMA_VERSION, RunData, RunMeta, compute
from experiments.metrics.fault_impact import per_second, recovery_after
from experiments.metrics.model import FaultEvent
from experiments.metrics.synthetic import T0, SyntheticProfile, make_run
from experiments.metrics.versions import parse_metrics

FAULTY = SyntheticProfile(
    duration_s=60.0,
    warmup_s=5.0,
    rate=8.0,
    bursts=(),
    faults=((15.0, "kill", "storage", 0.0), (30.0, "outage", "llm", 8.0)),
)


def test_per_second_counts_whole_seconds_and_drops_the_rest() -> None:
    assert per_second([0.0, 0.5, 1.2, None, -1.0, 3.0, 9.0], 4) == [2, 1, 0, 1]


def test_recovery_counts_from_the_reference_to_five_good_seconds() -> None:
    offered = [4] * 20
    # a 3 s stall from second 5, then the backlog drains at once
    answered = [4] * 5 + [0, 0, 0, 16] + [4] * 11
    assert recovery_after(answered, offered, 5.0) == 3.0
    assert recovery_after(answered, offered, 4.5) == 3.5
    # the drained backlog must not hide the silent seconds inside a 5 s sum
    assert recovery_after([4] * 5 + [1, 0, 0, 20] + [4] * 11, offered, 5.0) == 3.0


def test_recovery_tolerates_noise_and_says_never() -> None:
    offered = [4, 3, 5, 4, 4, 4, 4, 5, 3, 4]
    assert recovery_after([3, 5, 4, 3, 5, 4, 4, 4, 4, 4], offered, 0.0) == 0.0
    assert recovery_after([0] * 10, offered, 0.0) is None
    assert recovery_after([4] * 10, [0] * 10, 0.0) is None  # nothing offered: nothing to meet
    assert recovery_after([4] * 10, offered, 6.0) is None  # fewer than 5 s left in the load


def test_a_synthetic_run_with_faults_measures_each() -> None:
    m = compute(make_run(1, profile=FAULTY))
    kill, outage = m.faults
    assert (kill.label, kill.recovery_from, kill.start_s) == ("kill storage", "start", 15.0)
    # storage is back after restart_s: answers are written again 3 s after the kill
    assert kill.recovery_s == pytest.approx(FAULTY.restart_s)
    assert kill.window_end_s == pytest.approx(18.0)
    assert kill.delay_threshold_s is not None and kill.delayed is not None
    assert 0 <= kill.delayed <= kill.affected
    assert (outage.label, outage.recovery_from, outage.end_s) == ("outage llm (503)", "end", 38.0)
    assert outage.recovery_s is not None
    assert outage.delayed is not None and outage.delayed > outage.affected / 2
    # every attempt during the outage failed: far more calls than the pre-fault amplification
    assert outage.extra_llm_calls is not None and outage.extra_llm_calls > outage.affected
    assert outage.expected_llm_calls == pytest.approx(
        outage.baseline_amplification * outage.affected
    )
    assert outage.llm_calls == pytest.approx(outage.expected_llm_calls + outage.extra_llm_calls)


def test_a_fault_too_early_for_a_baseline_and_one_never_recovered() -> None:
    prof = SyntheticProfile(
        duration_s=30.0, rate=6.0, bursts=(), faults=((1.0, "pause", "storage", 40.0),)
    )
    (pause,) = compute(make_run(2, profile=prof)).faults
    assert pause.baseline_questions < 20
    assert pause.delayed is None and pause.extra_llm_calls is None
    assert pause.recovery_s is None and "before the load ended" in (pause.recovery_note or "")
    assert pause.window_end_s == pytest.approx(pause.end_s)  # the fault outlasted the load


def test_a_failed_injection_keeps_its_error() -> None:
    run = make_run(3, profile=SyntheticProfile(duration_s=20.0, warmup_s=2.0, bursts=()))
    run.faults = [
        FaultEvent(at_s=10, action="kill", target="kafka", started_at=T0 + 10.0, error="boom")
    ]
    (fault,) = compute(run).faults
    assert fault.error == "boom" and fault.recovery_s is not None


def test_a_run_without_faults_has_an_empty_section_and_stays_reproducible() -> None:
    run = make_run(1, profile=SyntheticProfile(duration_s=20.0, warmup_s=2.0))
    assert run.faults == [] and compute(run).faults == []
    assert make_run(1, profile=SyntheticProfile(duration_s=20.0, warmup_s=2.0)) == run


def test_fault_labels_and_ends() -> None:
    pause = FaultEvent(at_s=1, action="pause", target="worker", worker=2, duration_s=5,
                       started_at=100.0)
    assert pause.label == "pause worker 2" and pause.lasts and pause.end_at == 105.0
    assert FaultEvent(at_s=1, action="pause", target="worker", started_at=0).label == (
        "pause workers"
    )
    kill = FaultEvent(at_s=1, action="kill", target="storage", started_at=7.0, ended_at=7.0)
    assert kill.label == "kill storage" and not kill.lasts and kill.end_at == 7.0


def test_run_data_version_1_loads_without_faults() -> None:
    data = json.loads(make_run(1, profile=FAULTY).to_json())
    data.pop("faults")
    data["version"] = 1
    old = RunData.model_validate(data)
    assert old.faults == [] and old.version == 1


def test_metrics_1_1_files_load_with_no_faults() -> None:
    data = compute(make_run(1, profile=FAULTY)).model_dump(mode="json")
    data.pop("faults")
    data["schema_version"] = "1.1"
    m = parse_metrics(data, "old/metrics.json")
    assert m.faults == [] and m.schema_version == SCHEMA_VERSION
    empty = compute(RunData(meta=RunMeta(run_name="e", experiment_id="e", started_at=0,
                                         ended_at=5)))
    assert empty.faults == []
