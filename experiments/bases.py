"""Where a spec's ``base`` comes from: a spec file of experiments/specs/, or an earlier run.

A base name is looked up, in order, as

1. ``experiments/specs/<name>.yaml`` (a saved spec: ``demo``);
2. ``reports/<name>/metrics.json`` (a run's label: its ``spec`` block);
3. the runs table (a run that has no report yet), through an injected lookup.

The first hit wins. Nothing is merged here: :func:`experiments.spec.merge_base` lays the new
fields over what this returns.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from experiments import spec as spec_module
from experiments.report.settings import ReportSettings
from pipeline.spec_model import SpecError

__all__ = ["RunLookup", "find_base", "run_spec_from_db"]

log = logging.getLogger(__name__)

#: label -> the run's spec, or None when the runs table has no such run
RunLookup = Callable[[str], Mapping[str, Any] | None]


def run_spec_from_db(label: str) -> Mapping[str, Any] | None:
    """The spec of run LABEL from the runs table (None: no such run, or no database)."""
    from pipeline.storage.db import Database
    from pipeline.storage.runs import RunStore

    db = Database(application_name="spec-base", autocommit=True)
    try:
        row = RunStore(db, retry_s=0).get(label)  # one attempt: a typo must not wait 30 s
    except Exception as exc:  # the base may simply not be a run: say what was tried
        log.warning("runs table not readable for base %r: %s", label, exc)
        return None
    finally:
        db.close()
    return None if row is None else dict(row.spec)


def _from_file(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise SpecError("base", f"{path.name} is not a spec (a mapping)")
    if data.get("base"):  # a saved spec may itself start from another
        return spec_module.resolve_base(data)
    return data


def _from_report(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("unreadable %s: %s", path, exc)
        return None
    found = data.get("spec") if isinstance(data, dict) else None
    return dict(found) if isinstance(found, dict) and found else None


def find_base(
    name: str,
    *,
    specs_dir: Path | None = None,
    reports_root: Path | None = None,
    lookup_run: RunLookup | None = run_spec_from_db,
) -> dict[str, Any]:
    """The spec named NAME (a spec file's stem, or a run label), as stored (not validated).

    Raises SpecError on field ``base`` when nothing has that name."""
    specs_dir = specs_dir or spec_module.SPECS_DIR
    reports_root = reports_root or ReportSettings().reports_root
    if "/" in name or name.startswith("."):
        raise SpecError("base", f"a spec file's name or a run label, got {name!r}",
                        title="Start from")
    for suffix in (".yaml", ".yml"):
        path = specs_dir / f"{name}{suffix}"
        if path.is_file():
            return _from_file(path)
    found = _from_report(reports_root / name / "metrics.json")
    if found is not None:
        missing = sorted(set(spec_module.flatten(spec_module.defaults())) - {"base"}
                         - set(spec_module.flatten(found)))
        if missing:  # an older report, or keys its redaction dropped
            log.warning("base %r: its metrics.json spec lacks %s; they take their defaults",
                        name, ", ".join(missing))
    if found is None and lookup_run is not None:
        row = lookup_run(name)
        found = dict(row) if row else None
    if found is None:
        raise SpecError(
            "base",
            f"no spec file {specs_dir.name}/{name}.yaml and no run labelled {name!r}",
            title="Start from",
        )
    return found
