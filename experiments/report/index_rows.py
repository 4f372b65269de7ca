"""The rows of reports/index.html: one per run folder, read from its metrics.json only.

A row holds what a user scans the index for: when the run started (local time) and how long it
lasted, its key parameters (retry policy, LLM profile, arrival process, workers, threshold), its
headline figures, how it ended, and its validity warnings (:mod:`experiments.report.validity`).
A folder whose metrics.json cannot be read is still a row, ``unreadable`` with the reason; a run
whose warnings cannot be computed (a metrics.json older than the warnings) has them unknown
(``None``) and is listed all the same.

The parameters come from the run's spec, which metrics.json keeps free-form (the experiment spec's
own schema is :mod:`experiments.spec`); a spec of another shape (older files, the synthetic runs)
shows what it has and leaves the rest empty rather than failing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from experiments.metrics.headline import format_value
from experiments.metrics.schema import RunMetrics
from experiments.metrics.store import METRICS_FILE, MetricsSchemaError, read_metrics
from experiments.report.fmt import count
from experiments.report.outcome import status_reason
from experiments.report.validity import ValidityWarning, run_warnings

log = logging.getLogger(__name__)

#: the headline figures of the index, (headline key, column label)
FIGURES: tuple[tuple[str, str], ...] = (
    ("e2e_p50_s", "e2e p50"),
    ("e2e_p99_s", "e2e p99"),
    ("goodput_qps", "goodput"),
    ("amplification", "calls / question"),
    ("dlq_rate", "dead letters"),
)
#: the folder of comparisons under the reports root (never a run)
COMPARE_DIR = "compare"
#: the folder of study reports under the reports root (never a run)
STUDIES_DIR = "studies"
INDEX_FILE = "index.html"
UNREADABLE = "unreadable"

#: computes a run's validity warnings (:func:`experiments.report.validity.run_warnings`; a seam
#: for tests)
WarningsOf = Callable[[RunMetrics], list[ValidityWarning]]


@dataclass(frozen=True)
class IndexRow:
    """One run of the index; every cell already formatted for display."""

    folder: str
    name: str
    status: str
    reason: str = ""
    #: seconds since the epoch, for ordering (newest first); metrics.json's time when the run's
    #: start is not known
    started_ts: float = 0.0
    started: str = ""
    lasted: str = ""
    repeats: int = 1
    policy: str = ""
    profile: str = ""
    arrival: str = ""
    duration: str = ""
    workers: str = ""
    threshold: str = ""
    #: headline key -> formatted value (``n/a`` when not measured)
    figures: dict[str, str] = field(default_factory=dict)
    #: headline key -> the figure as a number (None when not measured), what the page sorts by
    values: dict[str, float | None] = field(default_factory=dict)
    has_report: bool = False
    #: the run's validity warnings; None when they could not be computed (or the run is
    #: unreadable), which is not the same as none
    warnings: tuple[ValidityWarning, ...] | None = None

    @property
    def comparable(self) -> bool:
        """Its metrics.json reads, so `harness compare` can take it."""
        return self.status != UNREADABLE


def parse_time(iso: str | None) -> datetime | None:
    """An ISO 8601 time of metrics.json (``...Z`` or with an offset) as an aware datetime."""
    if not iso:
        return None
    try:
        value = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def readable_time(when: datetime, tz: tzinfo | None = None) -> str:
    """``2026-12-02 00:23`` in TZ (default: this machine's local zone)."""
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def readable_duration(seconds: float) -> str:
    """``45 s``, ``3 min 05 s``, ``1 h 02 min``."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min {total % 60:02d} s"
    return f"{total // 3600} h {total % 3600 // 60:02d} min"


def _get(spec: Mapping[str, Any], *paths: str) -> Any:
    """The first of the dotted PATHS present in SPEC (None if none is)."""
    for path in paths:
        node: Any = spec
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            if node is not None and node != "":
                return node
    return None


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) and not isinstance(value, bool) else ""


def _policy(spec: Mapping[str, Any]) -> str:
    """``exponential_jitter, full jitter``; a kind without jitter alone."""
    kind = _get(spec, "retry.kind", "retry.policy")
    jitter = _get(spec, "retry.jitter")
    if kind is None:
        return ""
    return f"{kind}, {jitter} jitter" if jitter not in (None, "none") else str(kind)


def _arrival(spec: Mapping[str, Any]) -> str:
    kind, rate = _get(spec, "arrival.kind"), _get(spec, "arrival.rate")
    rate_text = f"{_number(rate)}/s" if _number(rate) else ""
    return " ".join(str(p) for p in (kind, rate_text) if p)


def _workers(spec: Mapping[str, Any]) -> str:
    count, concurrency = _get(spec, "workers.count"), _get(spec, "workers.concurrency")
    if count is None:
        return ""
    return f"{count} x {concurrency}" if concurrency is not None else str(count)


def _figure(m: RunMetrics, key: str) -> float | None:
    """The repeats' mean when the run has repeats, else the run's own value; None when not
    measured (or not a finite number)."""
    repeats = m.repeat_stats()
    stat = repeats.metrics.get(key) if repeats is not None else None
    value = stat.mean if stat is not None and stat.mean is not None else m.headline.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _reason(m: RunMetrics) -> str:
    reason = status_reason(m.outcome)
    if m.outcome.partial and m.outcome.in_flight_at_collection:
        reason += f" ({count(m.outcome.in_flight_at_collection)} in flight)"
    return reason


def _warnings(m: RunMetrics, run_dir: Path, warnings_of: WarningsOf
              ) -> tuple[ValidityWarning, ...] | None:
    """The run's validity warnings, or None (logged) when computing them fails: the index lists
    every run, whatever its metrics lack."""
    try:
        return tuple(warnings_of(m))
    except Exception as exc:  # any failure only costs this row its warnings cell
        log.warning("validity warnings of %s not shown in the index: %r", run_dir, exc)
        return None


def run_row(run_dir: Path, tz: tzinfo | None = None,
            warnings_of: WarningsOf = run_warnings) -> IndexRow:
    """The index row of RUN_DIR (``unreadable`` with the reason when its metrics.json is not)."""
    has_report = (run_dir / INDEX_FILE).is_file()
    try:
        m = read_metrics(run_dir)
    except MetricsSchemaError as exc:
        log.warning("%s is listed as unreadable in the index: %s", run_dir, exc)
        mtime = (run_dir / METRICS_FILE).stat().st_mtime
        return IndexRow(folder=run_dir.name, name=run_dir.name, status=UNREADABLE,
                        reason=str(exc), started_ts=mtime, has_report=has_report)
    started, ended = parse_time(m.run.started_at), parse_time(m.run.ended_at)
    spec = m.spec
    duration = _get(spec, "arrival.duration_s")
    threshold = m.run.score_threshold
    if threshold is None:
        threshold = _get(spec, "scoring.threshold", "flink.threshold")
    values = {key: _figure(m, key) for key, _ in FIGURES}
    return IndexRow(
        folder=run_dir.name,
        name=m.run.run_name or run_dir.name,
        status=m.outcome.status,
        reason=_reason(m),
        started_ts=started.timestamp() if started else (run_dir / METRICS_FILE).stat().st_mtime,
        started=readable_time(started, tz) if started else "",
        lasted=readable_duration((ended - started).total_seconds()) if started and ended else "",
        repeats=m.repeats.n if m.repeats is not None else 1,
        policy=_policy(spec),
        profile=str(_get(spec, "llm.profile", "llm.fault_profile") or ""),
        arrival=_arrival(spec),
        duration=readable_duration(duration) if _number(duration) else "",
        workers=_workers(spec),
        threshold=_number(threshold),
        figures={key: format_value(key, value) for key, value in values.items()},
        values=values,
        has_report=has_report,
        warnings=_warnings(m, run_dir, warnings_of),
    )


def run_folders(root: Path) -> list[Path]:
    """Every run folder directly under ROOT: a folder holding metrics.json, except compare/ and
    studies/."""
    return [
        path.parent
        for path in root.glob(f"*/{METRICS_FILE}")
        if path.parent.name not in (COMPARE_DIR, STUDIES_DIR) and path.parent.is_dir()
    ]


def index_rows(root: Path, tz: tzinfo | None = None,
               warnings_of: WarningsOf = run_warnings) -> list[IndexRow]:
    """Every run under ROOT, newest first (a run with no start time by its file's time), ties by
    folder name."""
    rows = [run_row(d, tz, warnings_of) for d in run_folders(root)]
    rows.sort(key=lambda r: r.folder)
    rows.sort(key=lambda r: r.started_ts, reverse=True)
    return rows
