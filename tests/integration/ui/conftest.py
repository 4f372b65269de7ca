"""Browser fixtures: a headless chromium page on the stack's Airflow, and named screenshots.

Screenshots go to the test's tmp_path (the folder is written to the terminal) and are copied to
``<state>/screenshots/<test>/`` for humans, replacing the previous run's; a failing test adds
``failure.png``, the page as it was when the test failed.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from airflow_ui import STEP_TIMEOUT_MS
from playwright.sync_api import Page, expect

from foundation.settings import get_settings
from harness.browser import VIEWPORT, Screenshots, launch_chromium

log = logging.getLogger(__name__)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[
        None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def screenshots(request: pytest.FixtureRequest, tmp_path: Path,
                capsys: pytest.CaptureFixture[str]) -> Iterator[Screenshots]:
    shots = Screenshots(tmp_path / "screenshots")
    yield shots
    public = get_settings().home / "screenshots" / request.node.name
    shutil.rmtree(public, ignore_errors=True)
    shutil.copytree(shots.folder, public)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        with capsys.disabled():  # shown even when the test passes
            reporter.write_line(f"\nscreenshots: {shots.folder} (copied to {public})")


@pytest.fixture
def page(request: pytest.FixtureRequest, screenshots: Screenshots) -> Iterator[Page]:
    """A fresh browser (no cookies), English UI; on failure, the page's last state is saved."""
    expect.set_options(timeout=STEP_TIMEOUT_MS)  # a busy 2-core machine: more than the 5 s default
    with launch_chromium() as browser:
        context = browser.new_context(viewport=VIEWPORT, locale="en-US")  # type: ignore[arg-type]
        page = context.new_page()
        yield page
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            page.screenshot(path=str(screenshots.folder / "failure.png"), full_page=True)
        context.close()
