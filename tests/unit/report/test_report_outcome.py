"""How a run ended, in its report, the comparison and the index: partial and overlap banners."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from experiments.compare import compare
from experiments.metrics import Outcome, RunData, read_metrics
from experiments.metrics.synthetic import SyntheticProfile, make_run
from experiments.report import build_index, build_report
from experiments.report.outcome import banners, overlap_banner, partial_banner, status_reason

TINY = SyntheticProfile(duration_s=12.0, warmup_s=2.0, rate=3.0)
FAILURE = "the drain timed out after 600 s"
PARTIAL = f"Partial report: the run failed: {FAILURE}."
OVERLAP = (
    "Runs overlapped: exp-a, exp-b had questions in the pipeline during this run; its figures "
    "may include their load."
)


def _failed_run(name: str, seed: int = 3) -> RunData:
    run = make_run(seed, profile=TINY, run_name=name)
    run.meta.status = "failed"
    run.meta.failure = FAILURE
    run.meta.overlapping_runs = ["exp-a", "exp-b"]
    for q in run.questions[-2:]:  # two questions never finished
        q.state, q.durable_at, q.score_final = "in_flight", None, None
    return run


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A failed, overlapping run and a finished one, rendered once."""
    out = tmp_path_factory.mktemp("outcome-reports")
    build_report(_failed_run("broken"), out / "broken")
    build_report(make_run(4, profile=TINY, run_name="fine"), out / "fine")
    return out


def test_partial_banner_texts() -> None:
    assert partial_banner(Outcome()) is None
    failed = Outcome(status="failed", failure=FAILURE + ".", in_flight_at_collection=7)
    assert partial_banner(failed) == (
        f"{PARTIAL} 7 questions were still in flight when it was collected."
    )
    stopped = Outcome(status="stopped", failure="stopped by the user", in_flight_at_collection=1)
    assert partial_banner(stopped) == (
        "Partial report: the run was stopped: stopped by the user. "
        "1 question was still in flight when it was collected."
    )
    assert partial_banner(Outcome(status="failed")) == "Partial report: the run failed."


def test_overlap_banner_and_order() -> None:
    assert overlap_banner(Outcome()) is None
    both = Outcome(status="failed", failure=FAILURE, overlapping_runs=["exp-a", "exp-b"])
    assert overlap_banner(both) == OVERLAP
    assert banners(both) == [PARTIAL, OVERLAP]
    assert banners(Outcome()) == []


def test_status_reason_for_the_index() -> None:
    assert status_reason(Outcome()) == ""
    assert status_reason(Outcome(stopped_early="quota")) == "load stopped early: quota"
    both = Outcome(status="failed", failure=FAILURE, overlapping_runs=["exp-a"])
    assert status_reason(both) == f"{FAILURE}; overlapped exp-a"


def test_metrics_carry_the_outcome(root: Path) -> None:
    m = read_metrics(root / "broken")
    assert m.outcome.status == "failed" and m.outcome.failure == FAILURE
    assert m.outcome.in_flight_at_collection == 2
    assert m.outcome.overlapping_runs == ["exp-a", "exp-b"]
    assert read_metrics(root / "fine").outcome == Outcome(in_flight_at_collection=0)


def test_the_report_opens_with_the_banners(root: Path) -> None:
    in_flight = " 2 questions were still in flight when it was collected."
    html = (root / "broken" / "index.html").read_text()
    opening = html[html.index("<h1>") : html.index("<nav>")]
    assert PARTIAL + in_flight in opening and OVERLAP in opening
    assert html.index(PARTIAL) < html.index(OVERLAP) < html.index("class=subtitle")
    md = (root / "broken" / "report.md").read_text().splitlines()
    assert md[0] == "# Run broken"
    assert md[2] == f"> **{PARTIAL}{in_flight}**"
    assert md[4] == f"> **{OVERLAP}**"


def test_a_finished_run_has_no_outcome_banner(root: Path) -> None:
    html = (root / "fine" / "index.html").read_text()
    assert "Partial report" not in html and "Runs overlapped" not in html
    md = (root / "fine" / "report.md").read_text()
    assert "Partial report" not in md and "Runs overlapped" not in md


def test_the_comparison_warns_per_run(root: Path, tmp_path: Path) -> None:
    html = compare([root / "fine", root / "broken"], tmp_path / "cmp")
    text = html.read_text()
    assert f"broken: {PARTIAL}" in text and f"broken: {OVERLAP}" in text
    opening = text[text.index("<h1>") : text.index("<nav>")]
    assert "fine: Partial" not in opening and "fine: Runs overlapped" not in opening
    data = json.loads((html.parent / "compare.json").read_text())
    assert data["outcomes"]["broken"]["status"] == "failed"
    assert data["outcomes"]["fine"]["status"] == "finished"
    outcome_codes = {"partial", "overlap"}
    assert [w["code"] for w in data["validity"]["broken"] if w["code"] in outcome_codes] == [
        "partial",
        "overlap",
    ]
    assert not [w for w in data["validity"]["fine"] if w["code"] in outcome_codes]
    assert f"broken: {PARTIAL}" in " ".join(data["warnings"])
    assert "> **broken: Partial report" in (html.parent / "report.md").read_text()


def test_the_index_lists_failed_and_unreadable_runs(root: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    for name in ("broken", "fine"):
        shutil.copytree(root / name, reports / name)
    (reports / "garbled").mkdir()
    (reports / "garbled" / "metrics.json").write_text('{"schema_version": "9.0"}')
    html = build_index(reports).read_text()
    assert 'href="broken/index.html"' in html and 'href="fine/index.html"' in html
    assert re.search(r"<th[^>]*>status<", html) and re.search(r"<th[^>]*>reason<", html)
    assert "failed" in html and f"{FAILURE}; overlapped exp-a, exp-b" in html
    assert "unreadable" in html and "schema_version &#x27;9.0&#x27;" in html
    assert 'href="garbled/index.html"' not in html  # nothing to link to


def test_repeats_combine_their_outcomes(tmp_path: Path) -> None:
    fine = make_run(5, profile=TINY, run_name="r0")
    broken = _failed_run("r1", seed=6)
    broken.meta.overlapping_runs = ["exp-a", fine.meta.experiment_id]
    build_report([fine, broken], tmp_path / "both")
    m = read_metrics(tmp_path / "both")
    assert m.outcome.status == "failed"
    assert m.outcome.failure == f"r1: {FAILURE}"
    assert m.outcome.in_flight_at_collection == 2
    assert m.outcome.overlapping_runs == ["exp-a"]  # a repeat does not overlap itself


def test_a_run_without_a_git_revision_says_unknown_not_none(tmp_path: Path) -> None:
    """A run started outside a git checkout (the compose images hold no .git) has no revision."""
    run = make_run(5, profile=TINY, run_name="no-git")
    run.meta.git_revision = None
    build_report(run, tmp_path / "no-git")
    text = (tmp_path / "no-git" / "report.md").read_text()
    assert "unknown (not run from a git checkout)" in text
    assert "None" not in text
