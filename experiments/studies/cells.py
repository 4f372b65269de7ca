"""A study's cells: every variant crossed with the grid (the sweep's own expansion,
:func:`experiments.sweep.expand_grid`), each a validated single-repeat spec, and their run labels.

Cell names: the variant's name, then one ``<field>-<value>`` part per grid field (the field's last
dotted part: ``full.base_s-0.1``; ``jitter-none`` in a study without variants), characters a run
label cannot hold replaced by ``-``; the grid's combinations come in the sweep's order. Repeat k of cell C of
study S runs under the label ``S.C.r<k>`` with the spec's seed + k - 1, so the repeats differ in
their arrivals, question choice and simulator draws, and a rerun finds its earlier runs.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from experiments import spec as spec_module
from experiments.studies.model import VARIANT, CellRef, CompareClaim, Study
from experiments.sweep import expand_grid
from pipeline.arrivals import build_arrival
from pipeline.spec_model import SpecError


@dataclass(frozen=True)
class StudyCell:
    """One cell: its name, the values that make it (variant and grid fields), its spec."""

    name: str
    values: Mapping[str, Any]
    spec: Mapping[str, Any]

    def repeat_spec(self, k: int) -> dict[str, Any]:
        """The spec of repeat K (1-based): the cell's, seeded ``seed + k - 1``."""
        return spec_module.validate({**self.spec, "seed": int(self.spec["seed"]) + k - 1})


def repeat_label(study: str, cell: str, k: int) -> str:
    """``<study>.<cell>.r<k>``: the run's label and report folder."""
    return f"{study}.{cell}.r{k}"


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def cell_name(variant: str, combo: Mapping[str, Any]) -> str:
    """``<variant>.<field>-<value>...`` (see the module's docstring)."""
    parts = [variant] if variant else []
    for field, value in combo.items():
        text = value if isinstance(value, str) else json.dumps(value)
        parts.append(_UNSAFE.sub("-", f"{field.rsplit('.', 1)[-1]}-{text}"))
    return ".".join(parts)


def _assignments(overrides: Mapping[str, Any]) -> list[str]:
    return [f"{field}={json.dumps(value)}" for field, value in overrides.items()]


def _finish(study: Study, name: str, values: dict[str, Any], spec: Mapping[str, Any]
            ) -> StudyCell:
    """The cell's spec named ``<study>.<cell>``, one repeat, tagged with the study and its values."""
    tags = [t for t in spec.get("tags", []) if not str(t).startswith(f"{VARIANT}=")]
    tags += [f"study:{study.name}"]
    if VARIANT in values:
        tags.append(f"{VARIANT}={values[VARIANT]}")
    done = spec_module.validate({**spec, "name": f"{study.name}.{name}", "repeats": 1,
                                 "tags": list(dict.fromkeys(tags))})
    return StudyCell(name, values, done)


def expand(study: Study) -> list[StudyCell]:
    """Every cell of STUDY, validated up front: a bad value fails the study before any run,
    naming the field (:class:`SpecError`)."""
    variants: Mapping[str, Mapping[str, Any]] = study.variants or {"": {}}
    fields = list(study.grid)
    cells: list[StudyCell] = []
    for variant, settings in variants.items():
        overrides = {**study.overrides, **settings}
        head = {VARIANT: variant} if variant else {}
        if not fields:
            base = spec_module.load(spec_module.SPECS_DIR / f"{study.base}.yaml")
            spec = spec_module.apply_overrides(base, _assignments(overrides))
            spec["tags"] = [*spec.get("tags", []), f"sweep:{study.name}"]
            cells.append(_finish(study, variant, head, spec))
            continue
        expanded = expand_grid(study.base, study.grid, overrides, study.name)
        combos = itertools.product(*(study.grid[f] for f in fields))
        for cell, combo in zip(expanded, combos, strict=True):
            name = cell_name(variant, dict(zip(fields, combo, strict=True)))
            values = {**head, **dict(zip(fields, combo, strict=True))}
            cells.append(_finish(study, name, values, cell["spec"]))
    return cells


def _matches(cell: StudyCell, wanted: Mapping[str, Any]) -> bool:
    for field, value in wanted.items():
        have = cell.values.get(field)
        if have is None or not (have == value or str(have) == str(value)):
            return False
    return True


def find_cell(cells: Sequence[StudyCell], ref: CellRef) -> StudyCell:
    """The cell REF names (a cell name, or a mapping of its values matching exactly one cell);
    SpecError otherwise."""
    if isinstance(ref, str):
        for cell in cells:
            if cell.name == ref:
                return cell
        known = ", ".join(c.name for c in cells)
        raise SpecError("cell", f"no cell named {ref!r} (cells: {known})")
    found = [c for c in cells if _matches(c, ref)]
    if len(found) != 1:
        raise SpecError("cell", f"{json.dumps(ref)} matches {len(found)} cells, not one "
                        f"({', '.join(c.name for c in found) or 'none'})")
    return found[0]


def claim_cells(study: Study, cells: Sequence[StudyCell]) -> dict[str, list[str]]:
    """Claim id -> the names of the cells it reads; SpecError naming the claim when a cell
    reference does not name exactly one cell."""
    out: dict[str, list[str]] = {}
    for i, claim in enumerate(study.typed_claims()):
        refs = claim.cells if isinstance(claim, CompareClaim) else [claim.cell]
        try:
            out[claim.id] = [find_cell(cells, ref).name for ref in refs]
        except SpecError as exc:
            raise SpecError(f"claims.{i}.{exc.field}", exc.message) from None
    return out


@dataclass(frozen=True)
class Estimate:
    """The size of a study: runs, questions, load time, and the time bound with every drain."""

    runs: int
    questions: float
    load_s: float
    bound_s: float


def estimate(cells: Sequence[StudyCell], repeats: int) -> Estimate:
    """Expected questions (the arrival process's expected count) and load seconds of every run;
    ``bound_s`` adds each run's drain timeout (a run never takes longer, drains being cut there)."""
    questions = load = bound = 0.0
    for cell in cells:
        duration = float(cell.spec["arrival"]["duration_s"])
        process = build_arrival(spec_module.arrival_spec(cell.spec))
        questions += repeats * process.expected_count(duration)
        load += repeats * duration
        bound += repeats * (duration + float(cell.spec["drain_timeout_s"]))
    return Estimate(len(cells) * repeats, questions, load, bound)
