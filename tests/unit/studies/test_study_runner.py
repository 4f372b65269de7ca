"""The study runner on the tiny study (2 cells x 2 repeats) end to end, its runs injected: each
repeat writes a synthetic run's metrics.json; the report, the resume and a failed repeat."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from experiments.metrics.compute import compute
from experiments.metrics.store import write_metrics
from experiments.metrics.synthetic import SyntheticProfile, make_run
from experiments.studies.model import load_study
from experiments.studies.runner import StudyRunner

pytestmark = pytest.mark.unit

SMALL = SyntheticProfile(duration_s=20.0, warmup_s=4.0, rate=5.0)


class FakeStack:
    """The runs table and the run path: a run writes a synthetic run's metrics into ROOT/label."""

    def __init__(self, root: Path, fail: set[str] = frozenset()) -> None:
        self.root = root
        self.fail = set(fail)
        self.statuses: dict[str, str] = {}
        self.ran: list[str] = []
        self.prepared = 0

    def run(self, spec: Mapping[str, Any], label: str,
            progress: Callable[[str], None] | None) -> str:
        self.ran.append(label)
        if label in self.fail:
            self.statuses[label] = "failed"
            raise RuntimeError("drain timed out")
        metrics = compute(make_run(int(spec["seed"]), backoff=float(spec["retry"]["base_s"]),
                                   profile=SMALL, run_name=label))
        metrics = metrics.model_copy(update={"spec": dict(spec)})
        write_metrics(metrics, self.root / label)
        self.statuses[label] = "finished"
        return str(self.root / label)

    def status(self, label: str) -> tuple[str | None, Path | None]:
        status = self.statuses.get(label)
        report = self.root / label
        return status, report if (report / "metrics.json").exists() else None

    def prepare(self, spec: Mapping[str, Any]) -> None:
        self.prepared += 1

    def runner(self) -> StudyRunner:
        return StudyRunner(run=self.run, status=self.status, prepare=self.prepare)


def test_a_tiny_study_runs_every_cell_and_repeat_and_writes_its_report(tmp_path: Path) -> None:
    stack = FakeStack(tmp_path / "runs")
    study = load_study("tiny")
    results, html = stack.runner().run_study(study, tmp_path / "study")
    assert stack.ran == ["tiny.base_s-0.1.r1", "tiny.base_s-0.1.r2",
                         "tiny.base_s-0.5.r1", "tiny.base_s-0.5.r2"]
    assert stack.prepared == 4
    out = html.parent
    data = json.loads((out / "study.json").read_text())
    assert [c["name"] for c in data["cells"]] == ["base_s-0.1", "base_s-0.5"]
    for cell in data["cells"]:
        assert len(cell["runs"]) == 2 and not cell["missing"]
        amp = cell["metrics"]["amplification"]
        assert amp["n"] == 2 and amp["ci_low"] <= amp["mean"] <= amp["ci_high"]
    assert [v["claim"] for v in data["verdicts"]] == ["one-call", "base-changes-nothing"]
    assert all(v["outcome"] in ("reproduced", "not_reproduced", "not_testable")
               for v in data["verdicts"])
    text = (out / "report.md").read_text()
    assert "Verdicts" in text and "95% CI" in text and "End-to-end latency p50" in text
    assert (out / "sweep_amplification.png").exists()
    assert "Study tiny" in html.read_text()
    assert len(results) == 2


def test_a_rerun_resumes_from_the_finished_runs(tmp_path: Path) -> None:
    stack = FakeStack(tmp_path / "runs")
    study = load_study("tiny")
    stack.runner().run_study(study, tmp_path / "study")
    stack.ran.clear()
    results, _ = stack.runner().run_study(study.model_copy(update={"repeats": 3}),
                                          tmp_path / "study")
    assert stack.ran == ["tiny.base_s-0.1.r3", "tiny.base_s-0.5.r3"]
    assert [len(r.runs) for r in results] == [3, 3]


def test_a_failed_repeat_is_left_out_then_run_again_under_the_next_label(tmp_path: Path) -> None:
    stack = FakeStack(tmp_path / "runs", fail={"tiny.base_s-0.5.r2"})
    study = load_study("tiny")
    results, html = stack.runner().run_study(study, tmp_path / "study")
    assert results[1].missing == {"tiny.base_s-0.5.r2":
                                  "tiny.base_s-0.5.r2: RuntimeError: drain timed out"}
    data = json.loads((html.parent / "study.json").read_text())
    by_claim = {v["claim"]: v for v in data["verdicts"]}
    assert by_claim["base-changes-nothing"]["outcome"] == "not_testable"
    assert "fewer than 2 repeats" in by_claim["base-changes-nothing"]["reason"]
    stack.ran.clear()
    results, _ = stack.runner().run_study(study, tmp_path / "study")
    assert stack.ran == ["tiny.base_s-0.5.r2-2"]
    assert results[1].labels == ["tiny.base_s-0.5.r1", "tiny.base_s-0.5.r2-2"]
    assert not results[1].missing


def test_the_plan_names_the_runs_still_missing_and_a_runner_without_runs_reports(
        tmp_path: Path) -> None:
    stack = FakeStack(tmp_path / "runs", fail={"tiny.base_s-0.5.r2"})
    study = load_study("tiny")
    assert [label for _, _, label in stack.runner().plan(study)] == [
        "tiny.base_s-0.1.r1", "tiny.base_s-0.1.r2", "tiny.base_s-0.5.r1", "tiny.base_s-0.5.r2"]
    stack.runner().run_study(study, tmp_path / "study")
    assert [(cell.name, k, label) for cell, k, label in stack.runner().plan(study)] == [
        ("base_s-0.5", 2, "tiny.base_s-0.5.r2-2")]
    stack.ran.clear()
    reporter = StudyRunner(run=None, status=stack.status)
    results, html = reporter.run_study(study, tmp_path / "again")
    assert stack.ran == []
    assert results[1].missing == {"tiny.base_s-0.5.r2": "tiny.base_s-0.5.r2: failed"}
    assert html.exists()
