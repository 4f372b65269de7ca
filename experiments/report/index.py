"""reports/index.html: every run (finished, failed or stopped, with why), newest first, with its
key parameters and headline figures, filters, sortable columns, a Compare button; then every
study (reports/studies/<name>/) and every comparison.

The runs are read by :mod:`experiments.report.index_rows`, the studies by
:mod:`experiments.report.index_studies`, the page is drawn by
:mod:`experiments.report.index_page`; `harness reports serve` (:mod:`experiments.report.serve`)
serves it with a working Compare button.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, tzinfo
from pathlib import Path

from experiments.report.index_page import ComparisonRow, index_html
from experiments.report.index_rows import COMPARE_DIR, INDEX_FILE, index_rows, readable_time
from experiments.report.index_studies import study_rows
from experiments.report.settings import ReportSettings
from foundation.repo import REPO_ROOT

log = logging.getLogger(__name__)

COMPARE_FILE = "compare.json"

__all__ = ["COMPARE_DIR", "COMPARE_FILE", "INDEX_FILE", "build_index", "comparison_rows"]


def comparison_rows(root: Path, tz: tzinfo | None = None) -> list[ComparisonRow]:
    """Every comparison under ROOT/compare/, newest first (by its compare.json's time)."""
    found: list[tuple[float, ComparisonRow]] = []
    for path in (root / COMPARE_DIR).glob(f"*/{COMPARE_FILE}"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("skipping %s in the index: %s", path, exc)
            continue
        mtime = path.stat().st_mtime
        written = readable_time(datetime.fromtimestamp(mtime).astimezone(), tz)
        row = ComparisonRow(
            name=path.parent.name,
            runs=[str(r) for r in data.get("runs", [])],
            written=written,
            href=f"{COMPARE_DIR}/{path.parent.name}/{INDEX_FILE}",
        )
        found.append((mtime, row))
    found.sort(key=lambda item: (-item[0], item[1].name))
    return [row for _, row in found]


def _as_typed(path: Path) -> str:
    """PATH as a user types it from the repository's root (relative when inside it)."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(REPO_ROOT.resolve()))
    except ValueError:
        return str(resolved)


def _zone_name(tz: tzinfo | None) -> str:
    return datetime.now().astimezone(tz).tzname() or "local"


def build_index(reports_root: Path | str, tz: tzinfo | None = None) -> Path:
    """Write ``reports_root/index.html`` listing all runs, studies and comparisons, with links.

    Times are shown in TZ (default: this machine's local zone)."""
    root = Path(reports_root)
    root.mkdir(parents=True, exist_ok=True)
    default_root = ReportSettings().reports_root
    same_root = os.path.realpath(root) == os.path.realpath(default_root)
    html = index_html(
        index_rows(root, tz),
        comparison_rows(root, tz),
        root_arg=_as_typed(root),
        root_option="" if same_root else _as_typed(root),
        zone=_zone_name(tz),
        studies=study_rows(root, tz),
    )
    out = root / INDEX_FILE
    out.write_text(html, encoding="utf-8")
    return out
