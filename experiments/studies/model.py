"""A study file (experiments/studies/<name>.yaml): what to run and which claims it tests
(docs/experiments.md#studies).

A study starts from a spec of experiments/specs/ (``base``), sets ``overrides`` on every cell (the
study's own settings, any spec field as a dotted path), and runs every combination of
``variants`` (named sets of overrides: policies that differ in several fields at once) and
``grid`` (spec field -> list of values, as a sweep takes it), each ``repeats`` times.

A claim is a small typed predicate over the cells' statistics (mean and 95 % interval over the
repeats, see :mod:`experiments.studies.verdict`):

- a threshold, ``{metric: amplification, cell: paced, op: "<=", value: 1.1}``: one cell's metric
  against a bound (``relative_to`` divides the metric first: ``throughput_qps`` relative to a
  provider's 5/s);
- a comparison, ``{metric: amplification, cells: [no_jitter, full], op: not_lower, margin: 0.1}``:
  the second cell's metric against the first's (times ``factor``).

A cell is named by its name (the variant, then ``.<n>`` for the grid combination when there is a
grid) or by a mapping of its values, ``{variant: full, retry.base_s: 0.1}``, which must match one
cell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, model_validator

from experiments.metrics.headline import BY_KEY
from pipeline.spec_model import SpecError, SpecModel, rule, validate_model

STUDIES_DIR = Path(__file__).parent
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,40}$"
#: the key of a cell's variant among its values (next to the grid's fields)
VARIANT = "variant"

CellRef = str | dict[str, Any]


class Source(SpecModel):
    """The published result the study reproduces."""

    claim: str = Field(min_length=1, max_length=600, title="Source claim",
                       description="The source's result in one sentence.")
    citation: str = Field(min_length=1, max_length=300, title="Citation",
                          description="Where it is published (author, title, year or URL).")


def _known_metric(metric: str) -> None:
    if metric not in BY_KEY:
        raise rule("metric", f"not a headline metric: {metric!r} (one of {', '.join(BY_KEY)})")


class ThresholdClaim(SpecModel):
    """One cell's metric against a bound: reproduced when its whole 95 % interval is on the
    claimed side, not reproduced when the whole interval is on the other side."""

    id: str = Field(pattern=NAME_PATTERN, title="Claim id")
    says: str = Field(min_length=1, max_length=400, title="The claim in words")
    metric: str = Field(title="Headline metric")
    cell: CellRef = Field(title="Cell", description="a cell name, or a mapping of its values")
    op: Literal[">=", "<="] = Field(title="Operator")
    value: float = Field(title="Bound")
    relative_to: float | None = Field(
        None, gt=0, title="Relative to",
        description="divide the metric (mean and interval) by this before comparing")

    @model_validator(mode="after")
    def _metric(self) -> ThresholdClaim:
        _known_metric(self.metric)
        return self


class CompareClaim(SpecModel):
    """The second cell's metric B against the first's A: ``lower`` (B < factor * A), ``higher``
    (B > factor * A), ``not_lower`` (B >= factor * A - margin), ``not_higher`` (B <= factor * A
    + margin), judged on the 95 % interval of B - factor * A."""

    id: str = Field(pattern=NAME_PATTERN, title="Claim id")
    says: str = Field(min_length=1, max_length=400, title="The claim in words")
    metric: str = Field(title="Headline metric")
    cells: Annotated[list[CellRef], Field(min_length=2, max_length=2)] = Field(
        title="Cells [A, B]", description="the reference cell A, then the cell B judged against it")
    op: Literal["lower", "higher", "not_lower", "not_higher"] = Field(title="Operator")
    factor: float = Field(1.0, gt=0, title="Factor", description="B is compared with factor * A")
    margin: float = Field(0.0, ge=0, title="Margin",
                          description="tolerance of not_lower / not_higher, in the metric's unit")

    @model_validator(mode="after")
    def _metric(self) -> CompareClaim:
        _known_metric(self.metric)
        if self.margin and self.op in ("lower", "higher"):
            raise rule("margin", f"applies to not_lower / not_higher, not to {self.op}")
        return self


Claim = ThresholdClaim | CompareClaim


def _claim(data: Any) -> Claim:
    """A claim from its mapping: a comparison when it names ``cells``, else a threshold."""
    if isinstance(data, dict) and "cells" in data:
        return validate_model(CompareClaim, data)
    return validate_model(ThresholdClaim, data)


class Study(SpecModel):
    """A study file."""

    name: str = Field(pattern=NAME_PATTERN, title="Study name",
                      description="names the report folder reports/studies/<name>/ and the runs")
    description: str = Field("", max_length=2000, title="Description")
    source: Source = Field(title="Source")
    base: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$", title="Base spec",
                      description="a spec of experiments/specs/ every cell starts from")
    overrides: dict[str, Any] = Field({}, title="Overrides",
                                      description="spec field (dotted) -> value, for every cell")
    variants: dict[str, dict[str, Any]] = Field(
        {}, title="Variants",
        description="variant name -> spec field (dotted) -> value; crossed with the grid")
    grid: dict[str, list[Any]] = Field({}, title="Grid",
                                       description="spec field -> list of values, as a sweep's")
    repeats: int = Field(3, ge=1, le=20, title="Repeats", description="runs per cell")
    metrics: list[str] = Field(
        ["throughput_qps", "goodput_qps", "amplification", "e2e_p50_s", "e2e_p99_s",
         "dlq_rate"],
        min_length=1, title="Metrics", description="headline metrics tabled in the report")
    notes: list[str] = Field([], title="Notes",
                             description="context printed in the report (a model, a caveat)")
    claims: list[Any] = Field(min_length=1, title="Claims")

    @model_validator(mode="after")
    def _consistent(self) -> Study:
        if not self.variants and not self.grid:
            raise rule("grid", "a study needs variants, a grid, or both")
        for name in self.variants:
            if not _valid_name(name):
                raise rule(f"variants.{name}", "a variant name is letters, digits, '_' and '-'")
        for field, values in self.grid.items():
            if not values:
                raise rule(f"grid.{field}", "a grid field needs a non-empty list of values")
        for metric in self.metrics:
            if metric not in BY_KEY:
                raise rule("metrics", f"not a headline metric: {metric!r}")
        return self

    def typed_claims(self) -> list[Claim]:
        """The claims, each validated as a threshold or a comparison; SpecError names the claim's
        field (``claims.1.op``) or a repeated id."""
        out: list[Claim] = []
        for i, data in enumerate(self.claims):
            try:
                out.append(_claim(data))
            except SpecError as exc:
                raise SpecError(f"claims.{i}.{exc.field}", exc.message, title=exc.title) from None
        ids = [c.id for c in out]
        if len(set(ids)) != len(ids):
            raise SpecError("claims", f"claim ids repeat: {ids}")
        return out


def _valid_name(name: str) -> bool:
    import re

    return re.fullmatch(NAME_PATTERN, name) is not None


def study_path(name_or_path: str | Path) -> Path:
    """A study's file: a path as given when it exists, else experiments/studies/<name>.yaml."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    return STUDIES_DIR / f"{name_or_path}.yaml"


def load_study(name_or_path: str | Path) -> Study:
    """Read and validate a study file (a name of experiments/studies/ or a path).

    Raises :class:`SpecError` naming the field; FileNotFoundError when there is no such study.
    """
    path = study_path(name_or_path)
    if not path.exists():
        known = ", ".join(sorted(study_names())) or "none"
        raise FileNotFoundError(f"no study {str(name_or_path)!r} (studies: {known})")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise SpecError("$", f"{path}: a study is a mapping")
    study = validate_model(Study, data)
    study.typed_claims()
    return study


def study_names() -> list[str]:
    """The studies shipped in experiments/studies/."""
    return sorted(p.stem for p in STUDIES_DIR.glob("*.yaml"))
