"""`harness reports serve`: files read-only, POST /compare validated (in-process server on an
ephemeral port over a temporary reports root; no stack)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_report_index import write_run

from experiments.report import build_index
from experiments.report.serve import (
    CompareRefused,
    ReportsServer,
    comparison_name,
    parse_runs,
    serving,
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("serve")
    (base / "outside").mkdir()  # a run folder beside the reports root, never reachable
    write_run(base / "outside", "secret", minutes=0)
    out = base / "reports"
    write_run(out, "fast", minutes=0)
    write_run(out, "slow", minutes=5, seed=2)
    (out / "link").symlink_to(base / "outside" / "secret")
    build_index(out)
    return out


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[ReportsServer]:
    with serving(root, "127.0.0.1", 0) as running:
        yield running


def request(server: ReportsServer, method: str, path: str,
            body: Any = None, raw: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), port, timeout=60)
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    out = (response.status, dict(response.getheaders()), response.read())
    conn.close()
    return out


def error(server: ReportsServer, body: Any = None, raw: bytes | None = None) -> tuple[int, str]:
    status, _, data = request(server, "POST", "/compare", body, raw)
    return status, json.loads(data)["error"]


def test_the_index_and_reports_are_served(server: ReportsServer) -> None:
    status, headers, body = request(server, "GET", "/index.html")
    assert status == 200 and b"<table id=runs" in body
    assert headers["Cache-Control"] == "no-cache"
    assert request(server, "GET", "/fast/metrics.json")[0] == 200
    assert request(server, "GET", "/../outside/secret/metrics.json")[0] == 404


def test_nothing_is_written_but_comparisons(server: ReportsServer, root: Path) -> None:
    for method in ("PUT", "DELETE"):
        assert request(server, method, "/index.html", raw=b"x")[0] == 501
    assert request(server, "POST", "/index.html", {"runs": ["fast", "slow"]})[0] == 404
    assert (root / "index.html").is_file()


@pytest.mark.parametrize("names", [["fast", "nope"], ["fast", "compare"], ["fast", "link"]])
def test_names_that_are_not_run_folders_are_refused(server: ReportsServer,
                                                    names: list[str]) -> None:
    status, why = error(server, {"runs": names})
    assert status in (400, 404) and repr(names[1]) in why


@pytest.mark.parametrize("name", ["..", "../outside/secret", "/etc", "fast/..", "fast\\..", "."])
def test_paths_are_refused(server: ReportsServer, name: str, root: Path) -> None:
    status, why = error(server, {"runs": ["fast", name]})
    assert status == 400 and "not a folder name" in why
    assert not (root / "compare").exists()


@pytest.mark.parametrize(
    "raw, why",
    [
        (b"{", "not JSON"),
        (b'{"runs": "fast"}', "expected"),
        (b'{"runs": ["fast"]}', "at least two"),
        (b'{"runs": ["fast", "fast"]}', "twice"),
        (b'{"runs": ["fast", 3]}', "expected"),
    ],
)
def test_malformed_bodies_are_refused(server: ReportsServer, raw: bytes, why: str) -> None:
    status, text = error(server, raw=raw)
    assert status == 400 and why in text


def test_parse_runs_takes_the_object_or_the_bare_list() -> None:
    assert parse_runs(b'{"runs": ["a", "b"]}') == parse_runs(b'["a", "b"]') == ["a", "b"]
    with pytest.raises(CompareRefused):
        parse_runs(b"\xff")


def test_comparison_name_is_the_cli_default() -> None:
    assert comparison_name(["fast", "slow"]) == "fast-vs-slow"
    assert comparison_name(["manual__2026-12-02T00:23+00:00", "b"]) == (
        "manual__2026-12-02T00-23-00-00-vs-b"
    )


def test_compare_writes_the_comparison_and_answers_its_url(server: ReportsServer,
                                                           root: Path) -> None:
    status, headers, body = request(server, "POST", "/compare", {"runs": ["slow", "fast"]})
    assert status == 200, body
    answer = json.loads(body)
    assert answer == {"url": "/compare/slow-vs-fast/index.html", "name": "slow-vs-fast"}
    assert headers["Location"] == answer["url"]
    compared = json.loads((root / "compare" / "slow-vs-fast" / "compare.json").read_text())
    assert compared["baseline"] == "slow"
    assert request(server, "GET", answer["url"])[0] == 200
    assert b"compare/slow-vs-fast/index.html" in request(server, "GET", "/index.html")[2]
