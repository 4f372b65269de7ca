"""Run a study: every cell x repeat through the path of `harness run`
(:func:`experiments.runner.run_experiment`), one at a time, then its report in
reports/studies/<name>/ (:mod:`experiments.studies.report`).

A rerun resumes: a repeat whose run finished with a report is read, not run again. A repeat whose
run failed is run again under the next attempt label (``S.C.r1``, then ``S.C.r1-2``, ...; a label
names one run for good), and one that fails again is left out of the statistics, named in the
report with its reason. The services the runs need are the caller's (``prepare``: `harness study`
starts the pipeline for each cell's worker settings).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.metrics.store import read_metrics
from experiments.report.settings import ReportSettings
from experiments.studies.cells import StudyCell, claim_cells, expand, repeat_label
from experiments.studies.model import Study
from experiments.studies.report import CellResult, write_study_report

log = logging.getLogger(__name__)

#: runs one repeat: (spec, label, progress) -> its report folder; raises when it did not finish
RunOne = Callable[[Mapping[str, Any], str, Callable[[str], None] | None], str]
#: a label's run: "finished" (with its report folder), another status, or None (not registered)
Status = Callable[[str], tuple[str | None, Path | None]]
MAX_ATTEMPTS = 3


def run_with_experiment(spec: Mapping[str, Any], label: str,
                        progress: Callable[[str], None] | None) -> str:
    """The default :data:`RunOne`: :func:`experiments.runner.run_experiment` (raises RunFailed
    when the run did not finish)."""
    from experiments.runner import run_experiment

    return run_experiment(spec, label=label, progress=progress).report_dir


def registered_status(label: str) -> tuple[str | None, Path | None]:
    """The default :data:`Status`: the runs table, and the report folder when metrics.json is in it."""
    from experiments.runner import report_dir_for, run_status

    run = run_status(label)
    if run is None:
        return None, None
    report = report_dir_for(label)
    return run.status, report if (report / "metrics.json").exists() else None


def study_dir(name: str) -> Path:
    """reports/studies/<name>/."""
    return ReportSettings().reports_root / "studies" / name


def attempt_labels(label: str) -> Iterator[str]:
    """``label``, ``label-2``, ... up to :data:`MAX_ATTEMPTS`."""
    yield label
    for n in range(2, MAX_ATTEMPTS + 1):
        yield f"{label}-{n}"


@dataclass
class StudyRunner:
    """Runs a study's cells; the seams (``run``, ``status``, ``prepare``) are what a test injects."""

    run: RunOne | None = run_with_experiment  # None: run nothing, report what finished
    status: Status = registered_status
    prepare: Callable[[Mapping[str, Any]], None] | None = None
    progress: Callable[[str], None] | None = None

    def _say(self, message: str) -> None:
        log.info(message)
        if self.progress is not None:
            self.progress(message)

    def repeat(self, cell: StudyCell, k: int, study: str, result: CellResult) -> None:
        """Repeat K of CELL: reuse its finished run, else run the first unused attempt label."""
        last_reason = "not run"
        for label in attempt_labels(repeat_label(study, cell.name, k)):
            status, report = self.status(label)
            if status == "finished" and report is not None:
                self._keep(result, label, report)
                return
            if status is not None:
                last_reason = f"{label}: {status}"
                continue  # this label ended without a report: the next attempt
            if self.run is None:
                break
            self._say(f"{study}: cell {cell.name}, repeat {k}: running {label}")
            if self.prepare is not None:
                self.prepare(cell.spec)
            try:
                report_dir = Path(self.run(cell.repeat_spec(k), label, self.progress))
            except Exception as exc:  # a failed repeat leaves the others running
                last_reason = f"{label}: {type(exc).__name__}: {exc}"
                self._say(f"{study}: {last_reason}; its partial report is not used")
                break
            self._keep(result, label, report_dir)
            return
        result.missing[repeat_label(study, cell.name, k)] = last_reason

    def plan(self, study: Study) -> list[tuple[StudyCell, int, str]]:
        """The repeats still to run, each with the label it would run under (its first attempt
        label not registered yet); a repeat that finished, or used up its attempts, is not."""
        todo: list[tuple[StudyCell, int, str]] = []
        for cell in expand(study):
            for k in range(1, study.repeats + 1):
                for label in attempt_labels(repeat_label(study.name, cell.name, k)):
                    status, report = self.status(label)
                    if status == "finished" and report is not None:
                        break
                    if status is None:
                        todo.append((cell, k, label))
                        break
        return todo

    @staticmethod
    def _keep(result: CellResult, label: str, report: Path) -> None:
        result.labels.append(label)
        result.report_dirs.append(report)
        result.runs.append(read_metrics(report))

    def run_study(self, study: Study, out_dir: Path | None = None) -> tuple[list[CellResult], Path]:
        """Every cell x repeat (resuming), then the study's report; returns the results and the
        report's index.html. Claims naming no cell fail here, before any run."""
        cells = expand(study)
        claim_cells(study, cells)
        results = [CellResult(cell) for cell in cells]
        for i, result in enumerate(results, start=1):
            self._say(f"{study.name}: cell {result.cell.name} ({i}/{len(cells)})")
            for k in range(1, study.repeats + 1):
                self.repeat(result.cell, k, study.name, result)
        html = write_study_report(study, results, out_dir or study_dir(study.name))
        return results, html
