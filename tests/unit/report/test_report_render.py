"""Rendering a run's report from fixtures: files, plots, figures in the HTML, no secrets."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from experiments.metrics import read_metrics
from experiments.metrics.headline import format_value
from experiments.report import build_index, render_report
from experiments.report.plots import RUN_PLOTS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_run_folder_has_every_file(reports_root: Path) -> None:
    run = reports_root / "single"
    for name in ("index.html", "report.md", "metrics.json", "questions.csv"):
        assert (run / name).is_file(), name
    for filename, _ in RUN_PLOTS.values():
        png = run / filename
        assert png.read_bytes()[:8] == PNG_MAGIC, filename
        assert png.stat().st_size > 10_000, filename  # a drawn plot, not an empty canvas


def test_html_is_self_contained_and_holds_the_headline_figures(reports_root: Path) -> None:
    run = reports_root / "single"
    html = (run / "index.html").read_text()
    head = read_metrics(run).headline
    for key in (
        "e2e_p50_s",
        "e2e_p99_s",
        "throughput_qps",
        "goodput_qps",
        "amplification",
        "recovery_rate",
    ):
        assert head[key] is not None
        assert format_value(key, head[key]) in html, key
    assert html.count("data:image/png;base64,") == len(RUN_PLOTS)
    assert not re.search(r"<(link|script)[^>]+(href|src)=", html)  # nothing fetched from elsewhere
    assert not re.search(r'src="(?!data:)', html)
    for needed in ("0123456789abcdef", "seed", "kafka", "4.1.0", "Findings"):
        assert needed in html


def test_findings_answer_the_questions(reports_root: Path) -> None:
    md = (reports_root / "single" / "report.md").read_text()
    for start in (
        "Asynchronous design, latency",
        "Asynchronous design, throughput",
        "Retries:",
        "Threshold:",
        "Feedback loop:",
    ):
        assert start in md, start
    assert "exponential_full_jitter policy recovered" in md


def test_secrets_never_reach_the_report(reports_root: Path) -> None:
    for name in ("index.html", "report.md", "metrics.json"):
        text = (reports_root / "single" / name).read_text()
        assert "sk-not-for-reports" not in text
        assert "api_key" not in text


def test_repeats_carry_confidence_intervals(reports_root: Path) -> None:
    m = read_metrics(reports_root / "fast")
    assert m.repeats is not None and m.repeats.n == 2
    assert m.run.run_name == "fast"
    assert sorted(p.name for p in (reports_root / "fast" / "repeats").iterdir()) == [
        "fast-r0",
        "fast-r1",
    ]
    ci = m.repeats.metrics["e2e_p99_s"]
    assert ci.ci_low is not None and ci.mean is not None and ci.ci_high is not None
    assert ci.ci_low <= ci.mean <= ci.ci_high
    assert "mean [95% CI] over 2 repeats" in (reports_root / "fast" / "index.html").read_text()


def test_rerender_needs_only_metrics_json_and_questions_csv(
    reports_root: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("metrics.json", "questions.csv"):
        shutil.copy(reports_root / "single" / name, copy / name)
    html = render_report(copy)
    assert html == copy / "index.html"
    assert (copy / "latency_over_time.png").is_file()
    assert (copy / "index.html").read_text() == (reports_root / "single" / "index.html").read_text()


def test_render_without_metrics_fails_clearly(tmp_path: Path) -> None:
    from experiments.metrics import MetricsSchemaError

    with pytest.raises(MetricsSchemaError):
        render_report(tmp_path)


def test_the_run_report_links_back_to_the_index(reports_root: Path) -> None:
    index = build_index(reports_root)
    run = reports_root / "single"
    up = re.search(r'<main><nav class=up><a href="([^"]+)">', (run / "index.html").read_text())
    assert up is not None and (run / up.group(1)).resolve() == index.resolve()
    assert f"[the reports index]({up.group(1)})" in (run / "report.md").read_text()
