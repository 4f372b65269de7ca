"""Comparison and index from rendered fixtures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from experiments.compare import compare, spec_differences
from experiments.metrics import read_metrics
from experiments.metrics.headline import HEADLINES
from experiments.report import build_index


@pytest.fixture(scope="module")
def backoff_comparison(reports_root: Path) -> Path:
    return compare(
        [reports_root / "fast", reports_root / "slow"], reports_root / "compare" / "backoff"
    )


def test_comparison_files(backoff_comparison: Path) -> None:
    out = backoff_comparison.parent
    for name in (
        "index.html",
        "report.md",
        "compare.json",
        "latency_cdf.png",
        "throughput.png",
        "retries.png",
    ):
        assert (out / name).is_file(), name


def test_comparison_has_every_headline_with_differences_and_ci_verdicts(
    backoff_comparison: Path, reports_root: Path
) -> None:
    data = json.loads((backoff_comparison.parent / "compare.json").read_text())
    assert data["runs"] == ["fast", "slow"]
    assert [r["key"] for r in data["metrics"]] == [h.key for h in HEADLINES]
    fast, slow = read_metrics(reports_root / "fast"), read_metrics(reports_root / "slow")
    row = next(r for r in data["metrics"] if r["key"] == "amplification")
    assert fast.repeats is not None and slow.repeats is not None
    mean_fast = fast.repeats.metrics["amplification"].mean
    mean_slow = slow.repeats.metrics["amplification"].mean
    assert mean_fast is not None and mean_slow is not None
    assert row["values"] == {"fast": pytest.approx(mean_fast), "slow": pytest.approx(mean_slow)}
    diff = row["diffs"]["slow"]
    assert diff["abs"] == pytest.approx(mean_slow - mean_fast)
    assert diff["rel"] == pytest.approx((mean_slow - mean_fast) / mean_fast)
    assert diff["basis"] == "bootstrap CI of the difference"
    assert isinstance(diff["exceeds_ci"], bool)
    assert data["spec_differences"]["retry.base_s"] == [0.1, 2.0]
    html = (backoff_comparison.parent / "index.html").read_text()
    assert "exceeds CI?" in html and "retry.base_s" in html
    assert "slow against fast:" in html


def test_single_runs_say_there_is_no_ci(reports_root: Path, tmp_path: Path) -> None:
    html = compare([reports_root / "single", reports_root / "slow"], tmp_path / "mixed")
    data = json.loads((html.parent / "compare.json").read_text())
    bases = {
        r["diffs"]["slow"]["basis"]
        for r in data["metrics"]
        if r["diffs"]["slow"]["abs"] is not None
    }
    assert bases == {"this run's CI only"}
    html2 = compare([reports_root / "single", reports_root / "single"], tmp_path / "same")
    text = html2.read_text()
    data2 = json.loads((html2.parent / "compare.json").read_text())
    assert {r["diffs"]["single (single)"]["basis"] for r in data2["metrics"]} >= {
        "no CI (single runs)"
    }
    assert text.count("No confidence interval exists for") == 1  # said once
    assert 'class="num better' not in text and 'class="num worse' not in text  # never coloured


def test_compare_needs_two_runs(reports_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        compare([reports_root / "single"], tmp_path / "x")


def test_spec_differences_ignore_secrets() -> None:
    diffs = spec_differences(
        [{"a": 1, "api_key": "x", "b": {"c": 2}}, {"a": 1, "api_key": "y", "b": {"c": 3}}]
    )
    assert diffs == {"b.c": [2, 3]}


def test_index_lists_runs_and_comparisons(backoff_comparison: Path, reports_root: Path) -> None:
    index = build_index(reports_root)
    html = index.read_text()
    for run in ("single", "fast", "slow"):
        assert f'href="{run}/index.html"' in html
    assert 'href="compare/backoff/index.html"' in html
    head = read_metrics(reports_root / "single").headline
    from experiments.metrics.headline import format_value

    assert format_value("e2e_p99_s", head["e2e_p99_s"]) in html


def test_the_comparison_links_back_to_the_index(backoff_comparison: Path,
                                                reports_root: Path) -> None:
    index = build_index(reports_root)
    out = backoff_comparison.parent
    html = backoff_comparison.read_text()
    up = re.search(r'<main><nav class=up><a href="([^"]+)">', html)  # first thing on the page
    assert up is not None and (out / up.group(1)).resolve() == index.resolve()
    md = (out / "report.md").read_text()
    assert f"[the reports index]({up.group(1)})" in md
