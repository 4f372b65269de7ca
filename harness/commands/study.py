"""`harness study NAME [--repeats N] [--dry-run]`: run a study of experiments/studies/ (every cell
x repeat through `harness run`'s path, one at a time, resuming) and write its report in
reports/studies/<name>/."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from experiments.run_summary import EXIT_INVALID, EXIT_PASSED, EXIT_RUN_FAILED
from harness.commands._follow import add_refresh_argument, live_progress

EPILOG = ("exit codes: 0 every repeat of every cell finished (whatever the verdicts), 1 a repeat "
          "did not finish (left out of the statistics, named in the report), 2 the study is "
          "invalid (nothing ran).")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 600 else f"{seconds / 60:.1f} min"


def _dry_run(study: Any, cells: list[Any]) -> int:
    from experiments.studies.cells import estimate, repeat_label

    size = estimate(cells, study.repeats)
    print(f"study {study.name}: {len(cells)} cells x {study.repeats} repeats = {size.runs} runs "
          f"(base spec {study.base})")
    print(f"source: {study.source.claim} ({study.source.citation})")
    for cell in cells:
        values = ", ".join(f"{k}={v}" for k, v in cell.values.items())
        labels = ", ".join(repeat_label(study.name, cell.name, k)
                           for k in range(1, study.repeats + 1))
        print(f"  {cell.name:<24} {values}  ({labels})")
    print(f"about {size.questions:,.0f} questions; load {_minutes(size.load_s)}, at most "
          f"{_minutes(size.bound_s)} with every drain timeout")
    for claim in study.typed_claims():
        print(f"claim {claim.id}: {claim.says}")
    return EXIT_PASSED


def _runner(refresh: float) -> Any:
    from experiments.runner import run_experiment
    from experiments.studies.runner import StudyRunner
    from harness import pipeline

    def run_one(spec: Mapping[str, Any], label: str,
                progress: Callable[[str], None] | None) -> str:
        with live_progress(label, refresh) as live:
            return run_experiment(spec, label=label, progress=live.note).report_dir

    def prepare(spec: Mapping[str, Any]) -> None:
        pipeline.ensure_pipeline(workers=spec["workers"]["count"],
                                 concurrency=spec["workers"]["concurrency"])

    return StudyRunner(run=run_one, prepare=prepare, progress=print)


def _study(args: argparse.Namespace) -> int:
    from experiments.studies.cells import claim_cells, expand
    from experiments.studies.model import load_study
    from pipeline.spec_model import SpecError

    try:
        study = load_study(args.name)
        if args.repeats is not None:
            study = study.model_copy(update={"repeats": args.repeats})
        cells = expand(study)
        claim_cells(study, cells)
    except (SpecError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.dry_run:
        return _dry_run(study, cells)
    from experiments.report import build_index
    from experiments.report.settings import ReportSettings

    runner = _runner(args.refresh)
    if args.report_only:  # an interrupted study: its report from the repeats that finished
        runner = replace(runner, run=None, prepare=None)
    results, html = runner.run_study(study)
    build_index(ReportSettings().reports_root)
    from experiments.studies.report import verdicts

    for verdict in verdicts(study, results):
        print(f"{verdict.claim}: {verdict.text.upper()} - {verdict.reason}")
    missing = [label for r in results for label in r.missing]
    if missing:
        print(f"left out (did not finish): {', '.join(missing)}")
    print(f"study report: {html}")
    return EXIT_RUN_FAILED if missing else EXIT_PASSED


def _repeats(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 20:
        raise argparse.ArgumentTypeError(f"1 to 20, got {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    study = sub.add_parser(
        "study", help="run a study (experiments/studies/NAME.yaml): cells x repeats, verdicts",
        description="Run a study of experiments/studies/: every cell (variant x grid) x repeat "
        "as one run in this process (as `harness run`), one at a time, labelled "
        "<study>.<cell>.r<k>; runs that already finished with a report are reused, so a rerun "
        "resumes. Writes reports/studies/<name>/ (index.html, report.md, study.json): a table "
        "per metric with each cell's mean and 95%% interval, charts, and a verdict per claim "
        "(reproduced, not reproduced, not testable here). The stack must be up (`harness up`).",
        epilog=EPILOG,
    )
    study.add_argument("name", help="a study of experiments/studies/ (e.g. rate_limits) or a "
                                    "study file's path")
    study.add_argument("--repeats", type=_repeats, metavar="N",
                       help="repeats per cell instead of the study's own (1-20)")
    study.add_argument("--dry-run", action="store_true",
                       help="print the cells, their run labels, the questions and the time "
                            "estimate; run nothing")
    study.add_argument("--report-only", action="store_true",
                       help="write the study's report from the repeats that already finished "
                            "(an interrupted study); run nothing")
    add_refresh_argument(study)
    study.set_defaults(func=_study)
