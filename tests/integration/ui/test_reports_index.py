"""The reports index from a user's chair: `harness reports serve` on a temporary reports root
with a few small synthetic runs, headless chromium ticks two runs, presses Compare and lands on
the comparison; opened from disk, the same page shows the `harness compare` command instead.

Needs chromium only, not the stack. Screenshots: see conftest.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from experiments.metrics.synthetic import SyntheticProfile, make_run
from experiments.report import build_report
from experiments.report.index_rows import run_folders
from foundation.repo import REPO_ROOT
from harness.browser import Screenshots

TINY = SyntheticProfile(duration_s=12.0, warmup_s=2.0, rate=3.0)
START = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)
#: (folder, retry jitter, simulator profile, minutes after START, failure)
RUNS = (
    ("backoff-full", "full", "flaky", 0, None),
    ("backoff-none", "none", "flaky", 20, None),
    ("brownout", "full", "brownout", 45, "the drain timed out after 240 s"),
)


def _build_runs(root: Path) -> None:
    """Small synthetic runs with specs in the experiment spec's shape, rendered as reports."""
    for seed, (folder, jitter, profile, minutes, failure) in enumerate(RUNS):
        run = make_run(seed, profile=TINY, run_name=folder)
        run.spec = {
            "arrival": {"kind": "poisson", "rate": 3, "duration_s": 12},
            "llm": {"backend": "simulator", "profile": profile},
            "retry": {"kind": "exponential_jitter", "jitter": jitter, "base_s": 0.2},
            "scoring": {"threshold": 0.35, "max_rounds": 2},
            "workers": {"count": 1, "concurrency": 64},
        }
        if failure:
            run.meta.status, run.meta.failure = "failed", failure
        build_report(run, root / folder)
        # the start time is only shown: set it in metrics.json, leaving the computed figures
        metrics = root / folder / "metrics.json"
        start = (START + timedelta(minutes=minutes)).isoformat()
        end = (START + timedelta(minutes=minutes, seconds=95)).isoformat()
        text = re.sub(r'"started_at": "[^"]*"', f'"started_at": "{start}"', metrics.read_text())
        metrics.write_text(re.sub(r'"ended_at": "[^"]*"', f'"ended_at": "{end}"', text))
    assert len(run_folders(root)) == len(RUNS)


@pytest.fixture
def reports_root(tmp_path: Path) -> Path:
    root = tmp_path / "reports"
    _build_runs(root)
    return root


@pytest.fixture
def served(reports_root: Path) -> Iterator[str]:
    """`harness reports serve --port 0` on the root: its base URL (read from the line it prints
    once it listens)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "reports", "serve", "--port", "0",
         "--reports-root", str(reports_root)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"at (http://\S+/) ", line)
        assert match, f"harness reports serve printed {line!r} (exit {proc.poll()})"
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_tick_two_runs_and_compare_them(page: Page, served: str, reports_root: Path,
                                        screenshots: Screenshots) -> None:
    page.goto(f"{served}index.html")
    rows = page.locator("#runs tbody tr")
    expect(rows).to_have_count(len(RUNS))
    expect(rows.first).to_have_attribute("data-folder", "brownout")  # newest first
    expect(page.locator("#shown")).to_have_text(f"{len(RUNS)} of {len(RUNS)} runs shown")
    screenshots.take(page, "index", full_page=True)

    page.select_option("#f-status", "failed")
    expect(page.locator("#runs tbody tr:visible")).to_have_count(1)
    page.select_option("#f-status", "")
    page.fill("#f-text", "none jitter")  # matches no row's text: the policy cell omits it
    expect(page.locator("#runs tbody tr:visible")).to_have_count(0)
    page.fill("#f-text", "")

    # validity warnings: short labels, the sentence as the tooltip; these small runs all have
    # too few samples for their tail percentiles, so none is left without warnings
    labels = page.locator('tr[data-folder="brownout"] span.warn')
    expect(labels.first).to_have_text("partial")
    expect(labels.first).to_have_attribute("title", re.compile(r"^Partial report: the run failed"))
    page.check("#f-clean")
    expect(page.locator("#runs tbody tr:visible")).to_have_count(0)
    expect(page.locator("#shown")).to_have_text(f"0 of {len(RUNS)} runs shown")
    page.uncheck("#f-clean")
    expect(page.locator("#runs tbody tr:visible")).to_have_count(len(RUNS))

    compare = page.locator("#compare")
    expect(compare).to_be_disabled()
    page.locator('input.pick[value="backoff-full"]').check()
    expect(compare).to_be_disabled()
    page.locator('input.pick[value="backoff-none"]').check()
    expect(page.locator("#picked")).to_contain_text("baseline backoff-full")
    compare.click()
    page.wait_for_url(re.compile(r"/compare/backoff-full-vs-backoff-none/index\.html$"))
    expect(page.locator("h1")).to_have_text("Comparison backoff-full-vs-backoff-none")
    screenshots.take(page, "comparison")
    assert (reports_root / "compare" / "backoff-full-vs-backoff-none" / "compare.json").is_file()

    page.locator("nav.up a").click()  # the comparison's link back to the index
    page.wait_for_url(f"{served}index.html")  # which now lists the comparison
    expect(page.locator("#comparisons a")).to_have_text("backoff-full-vs-backoff-none")


def test_from_disk_compare_shows_the_command(page: Page, reports_root: Path,
                                             screenshots: Screenshots) -> None:
    from experiments.report import build_index

    index = build_index(reports_root)
    page.goto(index.resolve().as_uri())
    page.locator('input.pick[value="brownout"]').check()
    page.locator('input.pick[value="backoff-full"]').check()
    page.locator("#compare").click()
    root = str(reports_root.resolve())
    expect(page.locator("#compare-command")).to_have_text(
        f"harness compare {root}/brownout {root}/backoff-full --reports-root {root}"
    )
    page.locator("#copy").click()
    expect(page.locator("#copied")).to_have_text("copied")
    screenshots.take(page, "from-disk-command")
    assert not (reports_root / "compare").exists()


def test_a_click_on_a_header_sorts_the_runs(page: Page, reports_root: Path,
                                            screenshots: Screenshots) -> None:
    from experiments.report import build_index

    index = build_index(reports_root).resolve().as_uri()
    page.goto(index)
    rows = page.locator("#runs tbody tr")

    def folders() -> list[str]:
        return rows.evaluate_all("rs => rs.map(r => r.dataset.folder)")

    def header(name: str | re.Pattern[str]) -> Locator:
        return page.get_by_role("button", name=name, exact=isinstance(name, str))

    newest_first = ["brownout", "backoff-none", "backoff-full"]
    started = page.locator("#runs th", has=header(re.compile(r"^started")))
    expect(started).to_have_attribute("aria-sort", "descending")  # the page's own order
    assert folders() == newest_first

    header("run").click()
    run = page.locator("#runs th", has=header("run"))
    expect(run).to_have_attribute("aria-sort", "ascending")
    expect(started).not_to_have_attribute("aria-sort", re.compile("."))
    assert folders() == ["backoff-full", "backoff-none", "brownout"]
    header("run").click()  # a second click reverses
    expect(run).to_have_attribute("aria-sort", "descending")
    assert folders() == ["brownout", "backoff-none", "backoff-full"]

    # figures as numbers: the order of the cells' values, whatever their text (ms or s)
    header("e2e p99").click()
    col = page.locator("#runs thead th").evaluate_all(
        "hs => hs.findIndex(h => h.textContent.startsWith('e2e p99'))")
    values = rows.evaluate_all(f"rs => rs.map(r => Number(r.cells[{col}].dataset.sort))")
    assert values == sorted(values)
    screenshots.take(page, "index-sorted-by-p99", full_page=True)

    # sorting leaves the filters' choice alone
    page.select_option("#f-status", "finished")
    header(re.compile(r"^started")).focus()
    page.keyboard.press("Enter")  # the header is a button: the keyboard sorts too
    expect(started).to_have_attribute("aria-sort", "ascending")
    assert folders() == list(reversed(newest_first))
    expect(page.locator("#runs tbody tr:visible")).to_have_count(2)
    expect(page.locator('tr[data-folder="brownout"]')).to_be_hidden()

    # without JavaScript: the same rows newest first, plain headers, the sort shown
    assert page.context.browser is not None
    plain = page.context.browser.new_context(java_script_enabled=False)
    try:
        still = plain.new_page()
        still.goto(index)
        assert still.locator("#runs tbody tr").evaluate_all(
            "rs => rs.map(r => r.dataset.folder)") == newest_first
        expect(still.locator("button.sort")).to_have_count(0)
        expect(still.locator('#runs th[aria-sort="descending"]')).to_contain_text("started")
    finally:
        plain.close()
