"""The studies of reports/index.html: one row per folder of reports/studies/, read from the files
the folder holds, never from the study's code or its YAML.

`harness study` (:mod:`experiments.studies.report`) writes ``study.json`` first (the cells with
their runs and statistics, every verdict), then the charts, ``report.md`` and ``index.html``. A row
takes the study's name, its cells x repeats (and how many repeats finished) and its verdicts from
study.json, its time from the newest of its files, and links to index.html. A folder that lacks
one of those files, or whose study.json does not read as a study's (half-written, truncated,
edited by hand), is listed all the same with what it has and what is wrong
(:attr:`StudyRow.problems`); nothing in a study folder stops the index from being written.

The study modules are not imported here: they import the report package, and the index must
read an older or a half-written folder that the current code would not write.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from experiments.report.index_rows import INDEX_FILE, STUDIES_DIR, readable_time
from experiments.studies.verdict import OUTCOME_TEXT

log = logging.getLogger(__name__)

#: the study's data file (:data:`experiments.studies.report.STUDY_FILE`)
STUDY_FILE = "study.json"
#: the study's Markdown report, beside index.html
STUDY_MARKDOWN = "report.md"


@dataclass(frozen=True)
class StudyVerdict:
    """One claim's verdict as study.json keeps it."""

    claim: str
    outcome: str
    says: str = ""
    reason: str = ""

    @property
    def label(self) -> str:
        return OUTCOME_TEXT.get(self.outcome, self.outcome)  # any other: as written


@dataclass(frozen=True)
class StudyRow:
    """One study folder of the index."""

    folder: str
    name: str
    #: seconds since the epoch of its newest file (the folder's own time when it has none)
    written_ts: float
    written: str
    #: how many cells and repeats per cell; None when study.json does not say
    cells: int | None = None
    repeats: int | None = None
    #: repeats that finished, over every cell; None when study.json does not say
    finished: int | None = None
    verdicts: tuple[StudyVerdict, ...] = ()
    has_report: bool = False
    #: what is missing or wrong in the folder; empty when it is complete
    problems: tuple[str, ...] = ()

    @property
    def href(self) -> str:
        """The study's page, relative to reports/index.html."""
        return f"{STUDIES_DIR}/{self.folder}/{INDEX_FILE}"

    @property
    def planned(self) -> int | None:
        """Cells x repeats, the runs the study asks for (None when either is not known)."""
        if self.cells is None or self.repeats is None:
            return None
        return self.cells * self.repeats


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _verdicts(data: Mapping[str, Any], problems: list[str]) -> tuple[StudyVerdict, ...]:
    raw = data.get("verdicts")
    if not isinstance(raw, list):
        problems.append(f"{STUDY_FILE} has no verdicts")
        return ()
    out = []
    for item in raw:
        if not isinstance(item, Mapping) or not _text(item.get("claim")):
            problems.append(f"{STUDY_FILE} has a verdict without a claim")
            continue
        out.append(StudyVerdict(_text(item.get("claim")), _text(item.get("outcome")) or "unknown",
                                _text(item.get("says")), _text(item.get("reason"))))
    return tuple(out)


def _finished(cells: list[Any]) -> int | None:
    """The repeats that finished over CELLS (each cell's ``runs``); None when a cell lacks them."""
    total = 0
    for cell in cells:
        runs = cell.get("runs") if isinstance(cell, Mapping) else None
        if not isinstance(runs, list):
            return None
        total += len(runs)
    return total


def _read_study_json(path: Path, problems: list[str]) -> dict[str, Any] | None:
    """study.json as a mapping, or None with the reason added to PROBLEMS."""
    if not path.is_file():
        problems.append(f"{STUDY_FILE} missing")
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(f"{STUDY_FILE} unreadable: {exc}")
        return None
    if not isinstance(data, dict) or data.get("kind") != "study":
        problems.append(f"{STUDY_FILE} is not a study's (no \"kind\": \"study\")")
        return None
    return data


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def study_row(folder: Path, tz: tzinfo | None = None) -> StudyRow:
    """The index row of one study folder, whatever it holds (see the module's docstring)."""
    problems: list[str] = []
    data = _read_study_json(folder / STUDY_FILE, problems)
    has_report = (folder / INDEX_FILE).is_file()
    if not has_report:
        problems.append(f"{INDEX_FILE} missing")
    if not (folder / STUDY_MARKDOWN).is_file():
        problems.append(f"{STUDY_MARKDOWN} missing")
    times = [t for t in (_mtime(folder / n) for n in (STUDY_FILE, INDEX_FILE, STUDY_MARKDOWN))
             if t is not None]
    written_ts = max(times) if times else (_mtime(folder) or 0.0)
    written = readable_time(datetime.fromtimestamp(written_ts).astimezone(), tz)
    if data is None:
        row = StudyRow(folder.name, folder.name, written_ts, written, has_report=has_report,
                       problems=tuple(problems))
    else:
        cells = data.get("cells")
        if not isinstance(cells, list):
            problems.append(f"{STUDY_FILE} has no cells")
        repeats = _count(data.get("repeats"))
        if repeats is None:
            problems.append(f"{STUDY_FILE} has no repeats")
        row = StudyRow(
            folder=folder.name,
            name=_text(data.get("name")) or folder.name,
            written_ts=written_ts,
            written=written,
            cells=len(cells) if isinstance(cells, list) else None,
            repeats=repeats,
            finished=_finished(cells) if isinstance(cells, list) else None,
            verdicts=_verdicts(data, problems),
            has_report=has_report,
            problems=tuple(problems),
        )
    if row.problems:
        log.warning("study %s is listed as incomplete in the index: %s", folder,
                    "; ".join(row.problems))
    return row


def study_rows(root: Path, tz: tzinfo | None = None) -> list[StudyRow]:
    """Every folder of ROOT/studies/, newest first, ties by folder name."""
    folders = [p for p in (root / STUDIES_DIR).glob("*") if p.is_dir()]
    rows = [study_row(f, tz) for f in sorted(folders)]
    rows.sort(key=lambda r: r.written_ts, reverse=True)
    return rows
