"""Sortable columns of reports/index.html: what the page marks (each sortable header's type, each
cell's sort value, the default newest-first sort in the header) and the page's own sort function
run in Node.js on those values: numbers as numbers, times as times, empty cells last, a second
click reversing, ties in the page's order.

Node.js is the one on PATH or the one Playwright ships (a dev dependency); without either the
tests that run JavaScript are skipped. The clicks themselves are the browser test's
(tests/integration/ui/test_reports_index.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_report_index import CET, write_index_runs, write_run

from experiments.report import build_index
from experiments.report.index_page import index_html
from experiments.report.index_rows import FIGURES, index_rows
from experiments.report.index_sort import SORT_ORDER_JS, sort_header, sort_value

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The index test's runs: newest, broken (failed), old, and garbled (unreadable, oldest)."""
    return write_index_runs(tmp_path_factory.mktemp("sorted-reports"))


def node() -> str:
    """A Node.js executable: PATH's, else Playwright's bundled one; skips the test without."""
    found = shutil.which("node")
    if found:
        return found
    try:
        import playwright
    except ImportError:
        pytest.skip("no Node.js to run the page's script")
    bundled = Path(playwright.__file__).parent / "driver" / "node"
    if not bundled.is_file():
        pytest.skip("no Node.js to run the page's script")
    return str(bundled)


def sort_order(values: list[str], kind: str, direction: str) -> list[int]:
    """The page's sortOrder(VALUES, KIND, DIRECTION), run in Node.js."""
    program = (SORT_ORDER_JS + "\nconsole.log(JSON.stringify(sortOrder("
               f"{json.dumps(values)}, {json.dumps(kind)}, {json.dumps(direction)})));")
    out = subprocess.run([node(), "-e", program], capture_output=True, text=True, timeout=60,
                         check=True)
    return [int(i) for i in json.loads(out.stdout)]


class Table(HTMLParser):
    """One table of a page (by id): its headers' attributes and each body row's cells' data-sort
    (None when a cell has none) with the row's attributes."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.inside = False
        self.heads: list[dict[str, str | None]] = []
        self.rows: list[tuple[dict[str, str | None], list[str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.inside = a.get("id") == self.table_id
        elif self.inside and tag == "th":
            self.heads.append(a)
        elif self.inside and tag == "tr" and self.heads and a:
            self.rows.append((a, []))
        elif self.inside and tag == "td" and self.rows:
            self.rows[-1][1].append(a.get("data-sort"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False


def parse(html: str, table_id: str) -> Table:
    table = Table(table_id)
    table.feed(html)
    return table


def test_sort_values_and_headers() -> None:
    assert sort_value(0.85) == ' data-sort="0.85"'
    assert sort_value(3) == ' data-sort="3"'
    assert sort_value(None) == ' data-sort=""'
    assert sort_value(float("nan")) == ' data-sort=""'
    assert sort_value('a "b"') == ' data-sort="a &quot;b&quot;"'
    assert sort_header("run", None) == "<th>run</th>"
    assert sort_header("p99", "number", "ascending") == (
        '<th data-sort-type="number" aria-sort="ascending">p99'
        "<span class=arrow aria-hidden=true></span></th>")


@pytest.mark.parametrize(("values", "kind", "direction", "order"), [
    # numbers as numbers (not 10 < 9 as text), empty and unreadable values last both ways
    (["10", "9", "", "2.5", "1e-05", "n/a"], "number", "ascending", [4, 3, 1, 0, 2, 5]),
    (["10", "9", "", "2.5", "1e-05", "n/a"], "number", "descending", [0, 1, 3, 4, 2, 5]),
    # ties keep the page's order in both directions
    (["1", "1", "0", "1"], "number", "descending", [0, 1, 3, 2]),
    (["1", "1", "0", "1"], "number", "ascending", [2, 0, 1, 3]),
    # times: seconds since the epoch
    (["1764630780.0", "1764630000.5", "", "1764630300.0"], "time", "ascending", [1, 3, 0, 2]),
    # text: case ignored, digits as numbers
    (["poisson 10/s", "poisson 4/s", "", "Constant 2/s", "constant 1/s"], "text", "ascending",
     [4, 3, 1, 0, 2]),
    (["b", "", "A", "c"], "text", "descending", [3, 0, 2, 1]),
])
def test_the_page_sorts_numbers_times_and_text(values: list[str], kind: str, direction: str,
                                               order: list[int]) -> None:
    assert sort_order(values, kind, direction) == order


def test_every_column_but_the_tick_sorts_and_the_page_says_newest_first(root: Path) -> None:
    html = build_index(root, CET).read_text()
    table = parse(html, "runs")
    kinds = [h.get("data-sort-type") for h in table.heads]
    assert kinds[0] is None  # the tick column
    assert kinds[1:] == ["text", "time", "text", "text", "number", "text", "text", "text", "text",
                         "number", *["number"] * len(FIGURES)]
    sorted_by = [(i, h.get("aria-sort")) for i, h in enumerate(table.heads) if h.get("aria-sort")]
    assert sorted_by == [(2, "descending")]  # started, as the rows are written
    assert 'class="runs sortable"' in html
    for attrs, cells in table.rows:
        assert len(cells) == len(table.heads), attrs
        assert cells[0] is None and all(c is not None for c in cells[1:]), attrs


def test_figures_sort_by_their_number_and_unmeasured_last(root: Path) -> None:
    rows = {r.folder: r for r in index_rows(root, CET)}
    table = parse(build_index(root, CET).read_text(), "runs")
    p99 = 11 + [k for k, _ in FIGURES].index("e2e_p99_s")
    for attrs, cells in table.rows:
        value = rows[str(attrs["data-folder"])].values.get("e2e_p99_s")
        assert cells[p99] == ("" if value is None else repr(value))
    assert table.rows[-1][0]["data-folder"] == "garbled" and table.rows[-1][1][p99] == ""


@pytest.mark.parametrize(("col", "direction", "folders"), [
    # the started column reproduces the page's order, and a second click reverses it
    (2, "descending", ["newest", "broken", "old", "garbled"]),
    (2, "ascending", ["garbled", "old", "broken", "newest"]),
    # status as text; warnings by how many (not known: last)
    (3, "ascending", ["broken", "newest", "old", "garbled"]),
    (5, "descending", ["broken", "newest", "old", "garbled"]),
    (5, "ascending", ["newest", "old", "broken", "garbled"]),
])
def test_the_page_sorts_its_own_rows(root: Path, col: int, direction: str,
                                     folders: list[str]) -> None:
    table = parse(build_index(root, CET).read_text(), "runs")
    kind = str(table.heads[col]["data-sort-type"])
    values = [cells[col] or "" for _, cells in table.rows]
    order = sort_order(values, kind, direction)
    assert [table.rows[i][0]["data-folder"] for i in order] == folders


def test_a_figure_column_sorts_by_value_not_by_its_text(tmp_path: Path) -> None:
    """Runs whose p50 reads 900 ms, 1.2 s and 95 ms sort as 95 ms, 900 ms, 1.2 s."""
    rows = [r for r in index_rows(_three_runs(tmp_path), CET)]
    for row, value in zip(rows, (0.9, 1.2, 0.095), strict=True):
        row.values["e2e_p50_s"] = value
    table = parse(index_html(rows, [], root_arg="reports"), "runs")
    col = 11 + [k for k, _ in FIGURES].index("e2e_p50_s")
    order = sort_order([cells[col] or "" for _, cells in table.rows], "number", "ascending")
    assert [rows[i].values["e2e_p50_s"] for i in order] == [0.095, 0.9, 1.2]


def _three_runs(root: Path) -> Path:
    for minutes, folder in enumerate(("a", "b", "c")):
        write_run(root, folder, minutes=minutes)
    return root


def test_the_page_scripts_parse(root: Path, tmp_path: Path) -> None:
    html = build_index(root, CET).read_text()
    scripts = html.split("<script>")[1:]
    assert len(scripts) == 2 and "<script src" not in html
    for i, script in enumerate(scripts):
        path = tmp_path / f"script{i}.js"
        path.write_text(script.split("</script>")[0])
        check = subprocess.run([node(), "--check", str(path)], capture_output=True, text=True,
                               timeout=60)
        assert check.returncode == 0, check.stderr
