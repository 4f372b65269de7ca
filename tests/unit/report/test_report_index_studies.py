"""Studies in reports/index.html: a section of their own, one row per folder of reports/studies/
read from its files (name, when, cells x repeats, the verdicts on one line, a link), and a folder
missing a file or with a half-written study.json listed as such without breaking the index.

The complete study is the tiny study (2 cells x 2 repeats) written by the study runner with its
runs injected (synthetic runs' metrics.json), one repeat failing."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Mapping
from html import escape as html_escape
from pathlib import Path
from typing import Any

import pytest

from experiments.metrics.compute import compute
from experiments.metrics.store import write_metrics
from experiments.metrics.synthetic import SyntheticProfile, make_run
from experiments.report import build_index
from experiments.report.index_rows import index_rows, run_folders
from experiments.report.index_studies import (
    STUDY_FILE,
    StudyRow,
    study_row,
    study_rows,
)
from experiments.studies import report as study_report
from experiments.studies.model import load_study
from experiments.studies.runner import StudyRunner

pytestmark = pytest.mark.unit

SMALL = SyntheticProfile(duration_s=20.0, warmup_s=4.0, rate=5.0)
#: the repeat that fails (on its first attempt; the runner does not retry it in the same run)
FAILS = "tiny.base_s-0.5.r2"
DAY = 86400.0
T0 = 1_764_633_600.0  # 2025-12-02 00:00 UTC


def run_tiny_study(runs: Path, out: Path) -> None:
    """The tiny study's report in OUT, its runs' metrics.json in RUNS, FAILS failing."""
    statuses: dict[str, str] = {}

    def run(spec: Mapping[str, Any], label: str, progress: Callable[[str], None] | None) -> str:
        if label == FAILS:
            statuses[label] = "failed"
            raise RuntimeError("drain timed out")
        m = compute(make_run(int(spec["seed"]), backoff=float(spec["retry"]["base_s"]),
                             profile=SMALL, run_name=label))
        write_metrics(m.model_copy(update={"spec": dict(spec)}), runs / label)
        statuses[label] = "finished"
        return str(runs / label)

    def status(label: str) -> tuple[str | None, Path | None]:
        report = runs / label
        return statuses.get(label), report if (report / "metrics.json").exists() else None

    StudyRunner(run=run, status=status).run_study(load_study("tiny"), out)


def touch(folder: Path, when: float) -> None:
    for path in [folder, *folder.iterdir()]:
        os.utime(path, (when, when))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """reports/ with the tiny study's runs, the study, and broken study folders:
    ``half`` (study.json only, as while the report is being written), ``truncated`` (study.json
    cut short), ``foreign`` (a JSON file of another kind), ``page-only`` (index.html alone) and
    ``empty``, each a day older than the one before."""
    out = tmp_path_factory.mktemp("study-reports")
    studies = out / "studies"
    run_tiny_study(out, studies / "tiny")
    good = studies / "tiny"
    (studies / "half").mkdir()
    shutil.copy(good / STUDY_FILE, studies / "half" / STUDY_FILE)
    (studies / "truncated").mkdir()
    text = (good / STUDY_FILE).read_text()
    (studies / "truncated" / STUDY_FILE).write_text(text[: len(text) // 2])
    (studies / "foreign").mkdir()
    (studies / "foreign" / STUDY_FILE).write_text('["not", "a", "study"]')
    (studies / "page-only").mkdir()
    shutil.copy(good / "index.html", studies / "page-only" / "index.html")
    (studies / "empty").mkdir()
    (studies / "a-file-not-a-folder").write_text("ignored")
    for age, name in enumerate(("tiny", "half", "truncated", "foreign", "page-only", "empty")):
        touch(studies / name, T0 - age * DAY)
    return out


def by_folder(root: Path) -> dict[str, StudyRow]:
    return {r.folder: r for r in study_rows(root)}


def test_the_index_reads_the_files_the_study_report_writes() -> None:
    assert STUDY_FILE == study_report.STUDY_FILE


def test_a_study_row_holds_cells_repeats_and_verdicts(root: Path) -> None:
    tiny = by_folder(root)["tiny"]
    assert (tiny.name, tiny.cells, tiny.repeats, tiny.planned, tiny.finished) == (
        "tiny", 2, 2, 4, 3)
    data = json.loads((root / "studies" / "tiny" / STUDY_FILE).read_text())
    assert [(v.claim, v.outcome, v.says, v.reason) for v in tiny.verdicts] == [
        (v["claim"], v["outcome"], v["says"], v["reason"]) for v in data["verdicts"]]
    assert [v.claim for v in tiny.verdicts] == ["one-call", "base-changes-nothing"]
    assert tiny.has_report and tiny.problems == ()
    assert tiny.href == "studies/tiny/index.html"
    assert tiny.written_ts == T0


def test_studies_are_listed_newest_first_whatever_they_hold(root: Path) -> None:
    rows = study_rows(root)
    assert [r.folder for r in rows] == ["tiny", "half", "truncated", "foreign", "page-only",
                                        "empty"]
    found = {r.folder: r.problems for r in rows}
    assert found["half"] == ("index.html missing", "report.md missing")
    assert found["truncated"][0].startswith("study.json unreadable: ")
    assert found["foreign"][0] == 'study.json is not a study\'s (no "kind": "study")'
    assert found["page-only"] == ("study.json missing", "report.md missing")
    assert found["empty"] == ("study.json missing", "index.html missing", "report.md missing")
    half = by_folder(root)["half"]
    assert (half.cells, half.repeats, len(half.verdicts), half.has_report) == (2, 2, 2, False)


def test_a_study_json_missing_fields_says_which(tmp_path: Path) -> None:
    folder = tmp_path / "studies" / "odd"
    folder.mkdir(parents=True)
    (folder / STUDY_FILE).write_text(json.dumps({
        "kind": "study", "name": "odd", "repeats": "three",
        "cells": [{"name": "a", "runs": ["x"]}, {"name": "b"}],
        "verdicts": [{"claim": "c1", "outcome": "reproduced"}, {"says": "no id"}],
    }))
    row = study_row(folder)
    assert (row.cells, row.repeats, row.finished, row.planned) == (2, None, None, None)
    assert [(v.claim, v.label) for v in row.verdicts] == [("c1", "reproduced")]
    assert row.problems == ("index.html missing", "report.md missing",
                            "study.json has no repeats", "study.json has a verdict without a claim")


def test_the_page_lists_the_studies_in_a_section_of_their_own(root: Path) -> None:
    html = build_index(root).read_text()
    section = html[html.index("<section id=studies>"):html.index("<section id=comparisons>")]
    assert html.index("<section id=runs-section>") < html.index("<section id=studies>")
    assert '<a href="#studies">Studies</a>' in html
    assert re.search(r"\d+ runs, 6 studies, 0 comparisons", html)
    rows = re.findall(r'<tr data-study="([^"]+)" data-complete="(yes|no)">(.*?)</tr>', section)
    assert [(folder, complete) for folder, complete, _ in rows] == [
        ("tiny", "yes"), ("half", "no"), ("truncated", "no"), ("foreign", "no"),
        ("page-only", "no"), ("empty", "no")]
    tiny = rows[0][2]
    assert '<a href="studies/tiny/index.html">tiny</a>' in tiny
    assert ">2 x 2<br><span class=muted>3 of 4 finished</span>" in tiny
    chips = re.findall(r'<span class="verdict v-(\w+)" data-claim="([^"]+)" title="([^"]*)">'
                       r"([^<]+)</span>", tiny)
    verdicts = by_folder(root)["tiny"].verdicts
    marks = {"reproduced": "\u2713", "not_reproduced": "\u2717", "not_testable": "?"}
    assert [(css, claim, text) for css, claim, _, text in chips] == [
        (v.outcome, v.claim, f"{marks[v.outcome]} {v.claim}") for v in verdicts]
    assert chips[0][2].startswith(f"{verdicts[0].label}: Every question needs one LLM call")
    assert chips[0][2].endswith(html_escape(verdicts[0].reason, quote=True))
    half = rows[1][2]
    assert "<a " not in half  # no page to link to
    assert "index.html missing; report.md missing</td>" in half
    assert 'data-claim="one-call"' in half
    assert "study.json unreadable: " in rows[2][2]
    assert '<a href="studies/page-only/index.html">page-only</a>' in rows[4][2]
    assert 'id=studies-table class="studies sortable"' in section
    assert '<th data-sort-type="time" aria-sort="descending">written (' in section


def test_without_studies_the_section_says_so_and_studies_are_never_runs(tmp_path: Path) -> None:
    html = build_index(tmp_path).read_text()
    assert "<section id=studies><h2>Studies</h2><p>No studies yet" in html
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "metrics.json").write_text("{}")
    assert run_folders(tmp_path) == [] and index_rows(tmp_path) == []
