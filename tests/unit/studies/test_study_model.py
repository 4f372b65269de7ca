"""Study files: the model, the cells (the sweep's expansion), claims naming cells, estimates."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from experiments.studies.cells import cell_name, claim_cells, estimate, expand, repeat_label
from experiments.studies.model import (
    STUDIES_DIR,
    CompareClaim,
    ThresholdClaim,
    load_study,
    study_names,
)
from pipeline.spec_model import SpecError

pytestmark = pytest.mark.unit

SHIPPED = ("rate_limits", "retry_budgets", "contention", "tiny")


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def tiny(**changes: object) -> dict:
    data = yaml.safe_load((STUDIES_DIR / "tiny.yaml").read_text())
    data.update(changes)
    return data


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_study_loads_expands_and_names_its_cells(name: str) -> None:
    study = load_study(name)
    cells = expand(study)
    refs = claim_cells(study, cells)
    assert set(refs) == {c.id for c in study.typed_claims()}
    assert study.source.claim and study.source.citation
    for cell in cells:
        assert cell.spec["repeats"] == 1
        assert cell.spec["name"] == f"{study.name}.{cell.name}"
        assert f"study:{study.name}" in cell.spec["tags"]
    assert name in study_names()


def test_the_rate_limits_study_is_the_issues_experiment() -> None:
    study = load_study("rate_limits")
    cells = {c.name: c for c in expand(study)}
    assert study.repeats >= 3
    assert set(cells) >= {"no_jitter", "full", "decorrelated", "equal", "full_retry_after",
                          "paced", "budget", "aimd"}
    paced = cells["paced"].spec
    assert paced["llm"]["profile"] == "rate_limited"
    assert paced["arrival"]["rate"] == 25 and paced["dataset"]["size"] == 1000
    assert paced["retry"]["rate_limit_per_s"] == 5
    assert cells["no_jitter"].spec["retry"]["jitter"] == "none"
    assert cells["aimd"].spec["retry"]["concurrency"] == "aimd"
    assert cells["budget"].spec["retry"]["budget_ratio"] == 0.1
    size = estimate(list(cells.values()), study.repeats)
    assert size.runs == 24
    assert size.questions == pytest.approx(24 * 1000)


def test_grid_cells_are_named_by_their_values_and_carry_them() -> None:
    study = load_study("contention")
    cells = expand(study)
    assert [c.name for c in cells] == ["jitter-none", "jitter-full", "jitter-equal",
                                       "jitter-decorrelated"]
    assert [c.values for c in cells][1] == {"retry.jitter": "full"}
    assert cells[1].spec["retry"]["jitter"] == "full"
    assert cell_name("paced", {"retry.base_s": 0.1, "llm.profile": "a b"}) == (
        "paced.base_s-0.1.profile-a-b")


def test_a_repeat_has_its_own_seed_and_label() -> None:
    cell = expand(load_study("tiny"))[0]
    assert cell.repeat_spec(1)["seed"] == cell.spec["seed"]
    assert cell.repeat_spec(3)["seed"] == cell.spec["seed"] + 2
    assert repeat_label("tiny", cell.name, 2) == "tiny.base_s-0.1.r2"


def test_claims_are_typed_by_their_shape() -> None:
    claims = load_study("tiny").typed_claims()
    assert isinstance(claims[0], ThresholdClaim)
    assert isinstance(claims[1], CompareClaim)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"claims": [{"id": "x", "says": "s", "metric": "nope", "cell": "1", "op": ">=",
                      "value": 1}]}, "claims.0.metric"),
        ({"claims": [{"id": "x", "says": "s", "metric": "amplification", "cell": "1",
                      "op": ">", "value": 1}]}, "claims.0.op"),
        ({"claims": [{"id": "x", "says": "s", "metric": "amplification", "cells": ["1"],
                      "op": "lower"}]}, "claims.0.cells"),
    ],
)
def test_an_invalid_claim_is_named(tmp_path: Path, changes: dict, field: str) -> None:
    with pytest.raises(SpecError) as err:
        load_study(write(tmp_path, tiny(**changes))).typed_claims()
    assert err.value.field == field


def test_a_claim_naming_no_cell_fails_before_any_run(tmp_path: Path) -> None:
    study = load_study(write(tmp_path, tiny(claims=[
        {"id": "x", "says": "s", "metric": "amplification", "cell": {"retry.base_s": 9},
         "op": ">=", "value": 1}])))
    with pytest.raises(SpecError, match="matches 0 cells") as err:
        claim_cells(study, expand(study))
    assert err.value.field == "claims.0.cell"


def test_a_bad_grid_value_fails_with_the_field(tmp_path: Path) -> None:
    study = load_study(write(tmp_path, tiny(grid={"retry.base_s": [0.1, -1]})))
    with pytest.raises(SpecError) as err:
        expand(study)
    assert err.value.field == "retry.base_s"


def test_a_study_needs_variants_or_a_grid(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="variants, a grid, or both"):
        load_study(write(tmp_path, tiny(grid={})))


def test_an_unknown_study_names_the_known_ones() -> None:
    with pytest.raises(FileNotFoundError, match="tiny"):
        load_study("no-such-study")
