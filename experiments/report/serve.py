"""A small local web server for the reports folder: read-only files, plus ``POST /compare``.

GET and HEAD serve the files under the reports root (nothing else is written or deleted through
it). ``POST /compare`` takes ``{"runs": ["A", "B", ...]}`` (or the bare list): the names of run
folders directly under the root, the first the baseline. It runs
:func:`experiments.compare.compare` as `harness compare` does (same output folder
``compare/<A>-vs-<B>``, then the index is rebuilt) and answers ``200 {"url": "/compare/<name>/
index.html", "name": ...}`` with a ``Location`` header.

A name is accepted only when it is, literally, the name of a run folder under the root (one that
holds metrics.json, not ``compare``), resolving inside the root: anything else (unknown, ``..``,
a path, a symlink out of the root) is refused with 400 or 404 and a JSON ``{"error": ...}``.
Comparisons run one at a time.
"""

from __future__ import annotations

import http.server
import json
import logging
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from experiments.compare import compare
from experiments.metrics.store import MetricsSchemaError
from experiments.report.index import build_index
from experiments.report.index_rows import COMPARE_DIR, INDEX_FILE, run_folders

log = logging.getLogger(__name__)

COMPARE_PATH = "/compare"
#: the largest request body read (a list of folder names is far smaller)
MAX_BODY = 64 * 1024


class CompareRefused(ValueError):
    """A compare request that is not run: the HTTP status and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def comparison_name(folders: Sequence[str]) -> str:
    """The comparison's folder name, as `harness compare` names it by default:
    ``A-vs-B``, cut to 120 characters of ``[A-Za-z0-9_.-]``."""
    text = "-vs-".join(folders)
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:120] or "comparison"


def parse_runs(body: bytes) -> list[str]:
    """The run folder names of a request body; CompareRefused(400) when it is not one."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompareRefused(400, f"the body is not JSON: {exc}") from None
    runs = data.get("runs") if isinstance(data, dict) else data
    if not isinstance(runs, list) or not all(isinstance(r, str) for r in runs):
        raise CompareRefused(400, 'expected {"runs": ["<run folder>", ...]}')
    if len(runs) < 2:
        raise CompareRefused(400, "a comparison needs at least two runs")
    if len(set(runs)) != len(runs):
        raise CompareRefused(400, "a run is named twice")
    return runs


def resolve_runs(root: Path, names: Sequence[str]) -> list[Path]:
    """The run folders NAMES under ROOT; CompareRefused for a name that is not one of them."""
    real_root = root.resolve()
    known = {d.name: d for d in run_folders(root)}
    out: list[Path] = []
    for name in names:
        if name in ("", ".", "..") or "/" in name or "\\" in name or "\x00" in name:
            raise CompareRefused(400, f"{name!r} is not a folder name")
        folder = known.get(name)
        if folder is None:
            raise CompareRefused(404, f"{name!r} is not a run folder under the reports root")
        if folder.resolve().parent != real_root:
            raise CompareRefused(400, f"{name!r} leads out of the reports root")
        out.append(folder)
    return out


class ReportsHandler(http.server.SimpleHTTPRequestHandler):
    """Files of the reports root (GET, HEAD) and POST /compare; nothing else."""

    server: ReportsServer

    def __init__(self, *args: Any, root: Path, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(root), **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def end_headers(self) -> None:
        # a report is regenerated in place: always fetch the current file
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def _json(self, status: int, payload: dict[str, Any], location: str | None = None) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if location is not None:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        if urlsplit(self.path).path != COMPARE_PATH:
            self._json(404, {"error": f"nothing to POST to at {self.path}"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self._json(400, {"error": f"a JSON body of 1 to {MAX_BODY} bytes is expected"})
            return
        try:
            name = self.server.compare(parse_runs(self.rfile.read(length)))
        except CompareRefused as exc:
            log.info("compare refused (%d): %s", exc.status, exc)
            self._json(exc.status, {"error": str(exc)})
            return
        url = f"/{COMPARE_DIR}/{quote(name)}/{INDEX_FILE}"
        self._json(200, {"url": url, "name": name}, location=url)


class ReportsServer(http.server.ThreadingHTTPServer):
    """The reports root on (host, port); :meth:`compare` is what POST /compare runs."""

    daemon_threads = True

    def __init__(self, root: Path, host: str, port: int, *, seed: int = 0) -> None:
        self.root = root
        self.seed = seed
        self._compare_lock = threading.Lock()
        super().__init__((host, port), partial(ReportsHandler, root=root))

    @property
    def url(self) -> str:
        """The base URL (a wildcard bind is reached on loopback)."""
        host, port = self.server_address[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else str(host)
        return f"http://{shown}:{port}/"

    def compare(self, names: Sequence[str]) -> str:
        """Compare the run folders NAMES (validated) into compare/<name>/, rebuild the index;
        the comparison's folder name."""
        dirs = resolve_runs(self.root, names)
        name = comparison_name([d.name for d in dirs])
        with self._compare_lock:
            try:
                compare(dirs, self.root / COMPARE_DIR / name, seed=self.seed)
            except (MetricsSchemaError, ValueError) as exc:
                raise CompareRefused(422, f"cannot compare: {exc}") from None
            build_index(self.root)
        return name


@contextmanager
def serving(root: Path, host: str, port: int, *, seed: int = 0) -> Iterator[ReportsServer]:
    """A ReportsServer answering in a background thread until the block ends (tests, tools)."""
    server = ReportsServer(root, host, port, seed=seed)
    thread = threading.Thread(target=server.serve_forever, name="reports-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
