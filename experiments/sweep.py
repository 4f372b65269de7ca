"""Sweeps: a grid over spec fields expanded into validated cells, and their comparison."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from experiments import spec as spec_module
from experiments.report.settings import ReportSettings

log = logging.getLogger(__name__)


def _as_assignment(field: str, value: Any) -> str:
    import json

    return f"{field}={json.dumps(value)}"


def expand_grid(base: str, grid: Mapping[str, Sequence[Any]], overrides: Mapping[str, Any],
                name: str, when: datetime | None = None) -> list[dict[str, Any]]:
    """Every combination of GRID applied to the BASE spec (a name in experiments/specs/).

    Each cell is validated up front, so a bad value fails the sweep before any run starts, with
    the field's name. Returns [{"label": ..., "spec": ...}, ...].
    """
    if not grid:
        raise spec_module.SpecError("grid", "the grid is empty")
    for field, values in grid.items():
        if not isinstance(values, list) or not values:
            raise spec_module.SpecError(field, "a grid field needs a non-empty list of values")
    base_spec = spec_module.load(spec_module.SPECS_DIR / f"{base}.yaml")
    stamp = f"{(when or datetime.now(UTC)):%Y%m%d-%H%M%S}"
    fields = list(grid)
    cells = []
    for index, values in enumerate(itertools.product(*(grid[f] for f in fields))):
        assignments = [_as_assignment(f, v) for f, v in overrides.items()]
        assignments += [_as_assignment(f, v) for f, v in zip(fields, values, strict=True)]
        cell_name = f"{name}.{index + 1}"
        assignments.append(f"name={cell_name}")
        spec = spec_module.apply_overrides(base_spec, assignments)
        spec["tags"] = [*spec.get("tags", []), f"sweep:{name}",
                        *(f"{f}={v}" for f, v in zip(fields, values, strict=True))]
        cells.append({"label": f"{cell_name}-{stamp}", "spec": spec})
    return cells


def compare_cells(report_dirs: list[str], name: str) -> str:
    """Compare the cells' reports in reports/compare/NAME: the comparison page with the sweep's
    charts (each headline metric against a swept field, :mod:`experiments.report.sweep_plots`)."""
    from experiments.compare import compare
    from experiments.metrics.store import read_metrics
    from experiments.report import build_index
    from experiments.report.sweep_plots import sweep_section

    root = ReportSettings().reports_root
    out = root / "compare" / name
    out.mkdir(parents=True, exist_ok=True)
    dirs = [Path(d) for d in report_dirs]
    charts = sweep_section([read_metrics(d) for d in dirs], out)
    compare(dirs, out, extra_sections=[charts] if charts is not None else [])
    build_index(root)
    return str(out)


def compare_labels(labels: list[str], name: str) -> str | None:
    """Compare the cells of a sweep that finished with a report (a failed cell is named in the
    log and left out: its figures are partial). None when fewer than two finished."""
    from experiments.report import build_index
    from experiments.runner import report_dir_for, run_status

    finished: list[str] = []
    for label in labels:
        run = run_status(label)
        report = report_dir_for(label)
        if run is not None and run.status == "finished" and (report / "metrics.json").exists():
            finished.append(str(report))
        else:
            status = "not registered" if run is None else f"{run.status}: {run.reason}"
            log.warning("sweep %s: cell %s left out of the comparison (%s)", name, label, status)
    if len(finished) < 2:
        build_index(ReportSettings().reports_root)
        log.warning("sweep %s: %d cell(s) finished; nothing to compare", name, len(finished))
        return None
    return compare_cells(finished, name)
