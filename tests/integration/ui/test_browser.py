"""harness.browser: the system chromium renders local HTML files and web pages to PNG."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from harness.browser import BrowserUnavailable, find_chromium, launch_chromium, screenshot

PAGE = ('<html><body style="margin:0;background:#fff">'
        '<div style="width:100px;height:2500px;background:#f00"></div></body></html>')


@pytest.fixture
def web_root(tmp_path: Path) -> Iterator[str]:
    """A static HTTP server on 127.0.0.1 over tmp_path/www: its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text(PAGE)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:  # quiet test output
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_screenshot_of_a_local_file_is_the_whole_page(tmp_path: Path) -> None:
    html = tmp_path / "report" / "index.html"
    html.parent.mkdir()
    html.write_text(PAGE)
    png = screenshot(html, tmp_path / "shots" / "report.png")
    with Image.open(png) as image:
        assert image.size == (1400, 2500)  # the viewport's width, the page's full height
        assert image.convert("RGB").getpixel((50, 2400)) == (255, 0, 0)
        assert image.convert("RGB").getpixel((700, 10)) == (255, 255, 255)


def test_one_browser_for_many_pages_and_http_errors_raise(web_root: str, tmp_path: Path) -> None:
    with launch_chromium() as browser:
        first = screenshot(f"{web_root}/index.html", tmp_path / "a.png", browser=browser)
        second = screenshot(f"{web_root}/index.html", tmp_path / "b.png", browser=browser,
                            full_page=False)
        with pytest.raises(RuntimeError, match="HTTP 404"):
            screenshot(f"{web_root}/missing.html", tmp_path / "c.png", browser=browser)
    with Image.open(first) as a, Image.open(second) as b:
        assert a.size == (1400, 2500)
        assert b.size == (1400, 1000)  # the viewport only
    assert not (tmp_path / "c.png").exists()


def test_a_missing_chromium_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(BrowserUnavailable, match="apt-get install -y chromium"):
        find_chromium(tmp_path / "no-chromium")
