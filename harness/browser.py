"""Headless Debian chromium driven by Playwright: for browser tests and screenshots of HTML reports.

Playwright's own browser downloads are not used (`playwright install` is never needed): we launch
the system's chromium (``apt-get install chromium``; scripts/bootstrap.sh does it), with the
switches that keep it quiet and working as root in a container.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

log = logging.getLogger(__name__)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",  # we may run as root, where the sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT = {"width": 1400, "height": 1000}


class BrowserUnavailable(RuntimeError):
    """No chromium executable (install Debian's package: apt-get install -y chromium)."""


def find_chromium(executable: Path | None = None) -> Path:
    """EXECUTABLE, else /usr/bin/chromium, else `chromium` on PATH; BrowserUnavailable if none."""
    candidates = [executable] if executable is not None else [CHROMIUM]
    on_path = shutil.which("chromium")
    if executable is None and on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise BrowserUnavailable(f"chromium not found at {candidates[0]}: apt-get install -y chromium")


@contextmanager
def launch_chromium(executable: Path | None = None, headless: bool = True) -> Iterator[Browser]:
    """A running headless chromium (a Playwright Browser), closed on exit."""
    from playwright.sync_api import sync_playwright

    path = find_chromium(executable)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(path), headless=headless,
                                             args=list(CHROMIUM_ARGS))
        log.debug("chromium %s started from %s", browser.version, path)
        try:
            yield browser
        finally:
            browser.close()


class Screenshots:
    """Numbered PNGs of pages (``01-login.png``, ``02-form.png``...) in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.taken: list[Path] = []
        folder.mkdir(parents=True, exist_ok=True)

    def take(self, page: Page, name: str, *, full_page: bool = False) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        self.taken.append(path)
        log.info("screenshot %s", path)
        return path


def screenshot(url: str | Path, path: Path, *, full_page: bool = True, timeout_s: float = 60.0,
               browser: Browser | None = None) -> Path:
    """Save a PNG of URL (an http(s)/file URL, or a local file such as a report's index.html).

    Waits for the page's load event (images included), not for a fixed time. Reuses BROWSER
    when given (cheaper for many pages), else starts and stops a chromium of its own.
    """
    # A local file (relative or absolute) becomes a file:// URL; URLs pass unchanged.
    target = Path(url).resolve().as_uri() if isinstance(url, Path) or "://" not in url else url
    if browser is None:
        with launch_chromium() as own:
            return screenshot(target, path, full_page=full_page, timeout_s=timeout_s, browser=own)
    page = browser.new_page(viewport=VIEWPORT, locale="en-US")  # type: ignore[arg-type]
    try:
        response = page.goto(target, wait_until="load", timeout=timeout_s * 1000)
        if response is not None and not response.ok:
            raise RuntimeError(f"{target}: HTTP {response.status}")
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=full_page)
    finally:
        page.close()
    log.info("screenshot of %s saved to %s", target, path)
    return path
