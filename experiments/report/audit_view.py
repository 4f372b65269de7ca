"""The audit's verdict as the report shows it: read from ``audit.json`` in the report folder
(written by ``harness audit --write`` and the experiment's audit step, :mod:`experiments.audit`).

It is read whenever a report is rendered, so an audit written after the report appears at the
next ``harness report``. The file's counts are read at its top level or under ``totals`` (with
``terminal_<state>`` keys); keys this view does not use are ignored. A missing file gives no
line but a note; an unreadable one says why, and never stops the report.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)

AUDIT_FILE = "audit.json"


class AuditSummary(BaseModel):
    """What a report shows of an audit."""

    model_config = ConfigDict(extra="ignore")

    verdict: Literal["clean", "dirty", "in flight"]
    exit_code: int | None = None
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    unknown: int = 0
    in_flight: int = 0
    terminal: dict[str, int] = Field(default_factory=dict)
    reasons: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class AuditReading:
    """``audit.json`` of a report folder: its summary, or why there is none."""

    summary: AuditSummary | None
    #: None when read; else "missing" or why the file could not be read
    problem: str | None = None


def _flat(data: dict[str, Any]) -> dict[str, Any]:
    """The counts at the top level, lifted from ``totals`` when only there."""
    totals = data.get("totals")
    if not isinstance(totals, dict):
        return data
    out = {**data}
    for key in ("acknowledged", "lost", "duplicated", "unknown", "in_flight"):
        out.setdefault(key, totals.get(key, 0))
    if "terminal" not in out:
        out["terminal"] = {
            k.removeprefix("terminal_"): v for k, v in totals.items() if k.startswith("terminal_")
        }
    return out


def read_audit(report_dir: Path | str) -> AuditReading:
    """``report_dir/audit.json`` as an :class:`AuditReading` (never raises for a bad file)."""
    path = Path(report_dir) / AUDIT_FILE
    if not path.is_file():
        return AuditReading(None, "missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return AuditReading(AuditSummary.model_validate(_flat(data)))
    except (OSError, ValueError, ValidationError) as exc:
        reason = str(exc).splitlines()[0]
        log.warning("%s is unreadable: %s", path, reason)
        return AuditReading(None, f"{AUDIT_FILE} is unreadable: {reason}")


def audit_line(reading: AuditReading) -> str:
    """One line for the top of a report: "Audit: clean - 1,200 sent, 0 lost, 0 duplicated"."""
    a = reading.summary
    if a is None:
        if reading.problem == "missing":
            return f"Audit: not run for this report (no {AUDIT_FILE} in its folder)."
        return f"Audit: unknown - {reading.problem}."
    counts = f"{a.acknowledged:,} sent, {a.lost:,} lost, {a.duplicated:,} duplicated"
    if a.verdict == "clean":
        return f"Audit: clean - {counts}."
    if a.verdict == "in flight":
        return f"Audit: in flight - {counts}, {a.in_flight:,} still in flight when audited."
    text = f"Audit: DIRTY - {a.lost:,} lost, {a.duplicated:,} duplicated, {a.unknown:,} never sent"
    text += f" (of {a.acknowledged:,} sent)"
    return text + (": " + "; ".join(a.reasons) if a.reasons else "") + "."


def audit_css(reading: AuditReading) -> str:
    """The line's style: audit-clean, audit-dirty, audit-in-flight or audit-none."""
    if reading.summary is None:
        return "audit-none" if reading.problem == "missing" else "audit-dirty"
    return "audit-" + reading.summary.verdict.replace(" ", "-")


def verdict_cell(reading: AuditReading) -> str:
    """A short cell for a comparison: the verdict with its lost/duplicated counts."""
    a = reading.summary
    if a is None:
        return "not run" if reading.problem == "missing" else "unreadable"
    verdict = "DIRTY" if a.verdict == "dirty" else a.verdict
    return f"{verdict} ({a.lost:,} lost, {a.duplicated:,} duplicated)"
