"""reports/index.html: newest first, readable times, the key parameters, failed runs with why,
each run's validity warnings, the filters and the Compare button's two modes."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from experiments.metrics import RunMetrics, compute, write_metrics
from experiments.metrics.synthetic import SyntheticProfile, make_run
from experiments.report import build_index
from experiments.report.index_page import index_html
from experiments.report.index_rows import (
    index_rows,
    parse_time,
    readable_duration,
    readable_time,
)
from experiments.report.validity import ValidityWarning

TINY = SyntheticProfile(duration_s=12.0, warmup_s=2.0, rate=3.0)
START = datetime(2026, 12, 1, 23, 10, tzinfo=UTC)
#: a zone with an offset, so that "local time" is not UTC by accident
CET = timezone(timedelta(hours=1), "CET")


def spec(profile: str = "flaky", jitter: str = "full", rate: float = 4) -> dict[str, Any]:
    """A spec in the experiment spec's own shape (experiments/spec.py)."""
    return {
        "name": "demo",
        "arrival": {"kind": "poisson", "rate": rate, "duration_s": 45},
        "llm": {"backend": "simulator", "profile": profile},
        "retry": {"kind": "exponential_jitter", "jitter": jitter, "base_s": 0.2},
        "scoring": {"threshold": 0.3, "max_rounds": 2, "scorer": "lexical"},
        "workers": {"count": 2, "concurrency": 64},
    }


def write_run(root: Path, folder: str, *, minutes: float, lasted_s: float = 200.0,
              status: str = "finished", failure: str | None = None, seed: int = 1,
              samples: int | None = None, in_flight: int = 0, **spec_args: Any) -> Path:
    """A run's metrics.json in ROOT/FOLDER, started MINUTES after START (SAMPLES: as if its
    end-to-end latency came from that many samples; IN_FLIGHT: questions unfinished at
    collection)."""
    run = make_run(seed, profile=TINY, run_name=folder)
    run.spec = spec(**spec_args)
    m = compute(run)
    started = START + timedelta(minutes=minutes)
    m.run.started_at = started.isoformat()
    m.run.ended_at = (started + timedelta(seconds=lasted_s)).isoformat()
    m.outcome.status = status  # type: ignore[assignment]
    m.outcome.failure = failure
    m.outcome.in_flight_at_collection = in_flight
    if samples is not None:
        m.latency.e2e.count = samples
    write_metrics(m, root / folder)
    return root / folder


def write_index_runs(out: Path) -> Path:
    """Four runs in OUT: newest, broken (failed), old, and garbled (unreadable, oldest)."""
    write_run(out, "old", minutes=0, lasted_s=45)
    write_run(out, "newest", minutes=13, lasted_s=3725, profile="brownout", jitter="none")
    write_run(out, "broken", minutes=5, status="failed", seed=2,
              failure="the drain timed out after 600 s")
    (out / "garbled").mkdir()
    garbled = out / "garbled" / "metrics.json"
    garbled.write_text('{"schema_version": "9.0"}')
    before = (START - timedelta(days=1)).timestamp()  # no start time: ordered by the file's
    os.utime(garbled, (before, before))
    return out


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_index_runs(tmp_path_factory.mktemp("index-reports"))


def test_times_read_as_local_minutes_and_durations() -> None:
    when = parse_time("2026-12-01T23:23:09Z")
    assert when is not None
    assert readable_time(when, UTC) == "2026-12-01 23:23"
    assert readable_time(when, CET) == "2026-12-02 00:23"
    assert parse_time(None) is None and parse_time("yesterday") is None
    assert [readable_duration(s) for s in (44.6, 185, 3725)] == ["45 s", "3 min 05 s", "1 h 02 min"]


def test_rows_newest_first_with_their_parameters(root: Path) -> None:
    rows = index_rows(root, CET)
    assert [r.folder for r in rows] == ["newest", "broken", "old", "garbled"]
    newest, old = rows[0], rows[2]
    assert newest.started == "2026-12-02 00:23" and newest.lasted == "1 h 02 min"
    assert old.started == "2026-12-02 00:10" and old.lasted == "45 s"
    assert newest.policy == "exponential_jitter" and old.policy == "exponential_jitter, full jitter"
    assert newest.profile == "brownout" and old.profile == "flaky"
    assert (old.arrival, old.duration, old.workers) == ("poisson 4/s", "45 s", "2 x 64")
    assert old.threshold == "0.35"  # the threshold the run used (metrics.json's run block)
    assert set(old.figures) == {"e2e_p50_s", "e2e_p99_s", "goodput_qps", "amplification",
                                "dlq_rate"}
    assert old.figures["e2e_p99_s"].endswith(("ms", " s"))


def test_failed_and_unreadable_runs_are_listed_with_their_reason(root: Path) -> None:
    by_folder = {r.folder: r for r in index_rows(root, CET)}
    broken = by_folder["broken"]
    assert broken.status == "failed" and broken.comparable
    assert broken.reason.startswith("the drain timed out after 600 s")
    garbled = by_folder["garbled"]
    assert garbled.status == "unreadable" and not garbled.comparable
    assert "9.0" in garbled.reason


def test_the_page_has_filters_checkboxes_and_the_compare_command(root: Path) -> None:
    html = build_index(root, CET).read_text()
    table = html[html.index("<table id=runs"):html.index("</table>")]
    order = [m.group(1) for m in re.finditer(r'<tr data-folder="([^"]+)"', table)]
    assert order == ["newest", "broken", "old", "garbled"]
    assert ('<th data-sort-type="time" aria-sort="descending">started (CET)'
            "<span class=arrow aria-hidden=true></span></th>") in html  # newest first
    newest_ts = (START + timedelta(minutes=13)).timestamp()
    assert (f'<td data-sort="{newest_ts!r}">2026-12-02 00:23'
            "<br><span class=muted>lasted 1 h 02 min</span></td>") in html
    for select in ("f-status", "f-profile", "f-policy"):
        assert f'<select id="{select}"' in html
    assert '<option value="brownout">brownout</option>' in html
    assert '<option value="failed">failed</option>' in html
    assert html.count("<input type=checkbox class=pick") == 3  # not the unreadable run
    assert 'data-status="failed"' in html and "the drain timed out after 600 s" in html
    # the command the page shows from disk: the root as typed, and --reports-root since this
    # is not the default reports folder
    assert f'data-root="{root.resolve()}"' in html
    assert f'data-root-option="{root.resolve()}"' in html
    assert "harness compare " in html and "location.protocol" in html
    assert "http://" not in html.replace("location.protocol === 'http:'", "")  # no external asset
    assert "<script src" not in html and "<link" not in html


def test_rows_carry_their_validity_warnings(root: Path) -> None:
    by_folder = {r.folder: r for r in index_rows(root, CET)}
    codes = {f: None if r.warnings is None else [w.code for w in r.warnings]
             for f, r in by_folder.items()}
    assert codes == {"newest": ["few_samples"], "old": ["few_samples"],
                     "broken": ["partial", "few_samples"], "garbled": None}


def test_the_page_shows_warnings_as_labels_with_their_sentence(root: Path) -> None:
    html = build_index(root, CET).read_text()
    assert '<th data-sort-type="number">warnings<span class=arrow' in html
    broken = re.search(r'<tr data-folder="broken"[^>]*>.*?</tr>', html)
    assert broken is not None and 'data-warnings="some"' in broken.group(0)
    labels = re.findall(r'<span class=warn data-code="(\w+)" title="([^"]+)">([^<]+)</span>',
                        broken.group(0))
    assert [(code, label) for code, _, label in labels] == [
        ("partial", "partial"), ("few_samples", "few samples")]
    assert labels[0][1].startswith("Partial report: the run failed")
    assert labels[1][1].startswith("Too few samples:")
    garbled = re.search(r'<tr data-folder="garbled"[^>]*>', html)
    assert garbled is not None and 'data-warnings="unknown"' in garbled.group(0)
    assert "<input type=checkbox id=f-clean> only runs without warnings" in html
    assert "row.dataset.warnings !== 'none'" in html  # the filter keeps only known-clean rows


def test_warnings_that_cannot_be_computed_leave_the_cell_empty(root: Path) -> None:
    def broken_warnings(m: RunMetrics) -> list[ValidityWarning]:
        raise KeyError("retries")  # as an older metrics.json could make it

    rows = index_rows(root, CET, warnings_of=broken_warnings)
    assert [r.folder for r in rows] == ["newest", "broken", "old", "garbled"]
    assert all(r.warnings is None for r in rows)
    html = index_html(rows, [], root_arg="reports")
    assert html.count('data-warnings="unknown"') == 4 and "class=warn " not in html
    assert html.count('<td class=wrap data-sort=""></td>') == 4  # the warnings cells, empty


def test_a_clean_run_and_counts_with_separators(tmp_path: Path) -> None:
    write_run(tmp_path, "clean", minutes=0, samples=5000)
    write_run(tmp_path, "stuck", minutes=1, samples=5000, status="failed",
              failure="the drain timed out", in_flight=15580)
    by_folder = {r.folder: r for r in index_rows(tmp_path, CET)}
    assert by_folder["clean"].warnings == ()
    assert by_folder["stuck"].reason.endswith("(15,580 in flight)")
    html = build_index(tmp_path, CET).read_text()
    clean = re.search(r'<tr data-folder="clean"[^>]*>', html)
    assert clean is not None and 'data-warnings="none"' in clean.group(0)
