"""`harness study`: the dry run prints the cells, labels and estimate; an invalid study runs
nothing and exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from experiments.studies.model import STUDIES_DIR
from harness.cli import main

pytestmark = pytest.mark.unit


def test_the_dry_run_lists_cells_labels_and_the_estimate(capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    assert main(["study", "tiny", "--dry-run", "--repeats", "3"]) == 0
    out = capsys.readouterr().out
    assert "2 cells x 3 repeats = 6 runs" in out
    assert "tiny.base_s-0.5.r3" in out
    assert "about 240 questions" in out
    assert "claim one-call" in out


def test_an_invalid_study_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load((STUDIES_DIR / "tiny.yaml").read_text())
    data["grid"] = {"retry.base_s": [-1]}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["study", str(path)]) == 2
    assert "retry.base_s" in capsys.readouterr().err
    assert main(["study", "no-such-study"]) == 2


def test_report_only_writes_the_report_of_what_finished_and_runs_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from experiments.studies.runner import StudyRunner
    from harness.commands import study as study_command

    def must_not_run(*args: object) -> str:
        raise AssertionError("--report-only ran a repeat")

    statuses = {"tiny.base_s-0.5.r1": ("running", None)}  # interrupted: no report
    monkeypatch.setattr(study_command, "_runner", lambda refresh: StudyRunner(
        run=must_not_run, prepare=must_not_run,
        status=lambda label: statuses.get(label, (None, None))))
    monkeypatch.setenv("HARNESS_REPORT_REPORTS_ROOT", str(tmp_path))
    assert main(["study", "tiny", "--report-only"]) == 1  # repeats missing
    out = capsys.readouterr().out
    assert "left out (did not finish): tiny." in out
    report = (tmp_path / "studies" / "tiny" / "report.md").read_text()
    assert "tiny.base_s-0.5.r1: running" in report
