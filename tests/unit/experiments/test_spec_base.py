"""Starting a spec from a saved spec file or an earlier run (`base`), and the merge rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from experiments import bases, params, spec

pytestmark = pytest.mark.unit


def _run_spec(**changes: Any) -> dict[str, Any]:
    """An earlier run's stored spec: the demo with CHANGES (nested), its own description."""
    demo = spec.load(spec.SPECS_DIR / "demo.yaml")
    patched = {**demo, "name": "backoff", "description": "Backoff study, 1 s base."}
    for section, fields in changes.items():
        patched[section] = {**patched[section], **fields}
    return spec.validate(patched)


@pytest.fixture
def earlier() -> dict[str, Any]:
    return _run_spec(retry={"base_s": 1.0, "cap_s": 20.0}, arrival={"rate": 8.0})


@pytest.fixture
def finder(earlier: dict[str, Any]):
    stored = {"backoff-1s": earlier}

    def find(name: str) -> dict[str, Any]:
        return bases.find_base(name, lookup_run=stored.get, reports_root=Path("/nonexistent"))

    return find


def _form(**changes: Any) -> dict[str, Any]:
    """The trigger form's values, untouched but for CHANGES (flat field names)."""
    conf = {name: param.resolve() for name, param in params.build_params().items()}
    return {**conf, **changes}


def test_merge_keeps_the_base_description_when_nothing_changed(earlier) -> None:
    merged = spec.merge_base(earlier, {"name": "backoff"}, label="backoff-1s")
    assert merged == {**earlier, "base": None}
    assert merged["description"] == "Backoff study, 1 s base."


def test_merge_describes_the_changes_neutrally(earlier) -> None:
    merged = spec.merge_base(earlier, {"retry": {"base_s": 0.2}, "seed": 7}, label="backoff-1s")
    assert merged["retry"]["base_s"] == 0.2 and merged["retry"]["cap_s"] == 20.0
    assert merged["arrival"]["rate"] == 8.0 and merged["seed"] == 7
    assert merged["description"] == "backoff-1s with seed=7, retry.base_s=0.2"


def test_merge_keeps_a_description_the_user_wrote(earlier) -> None:
    merged = spec.merge_base(earlier, {"retry": {"base_s": 0.2}, "description": "mine"},
                             label="backoff-1s")
    assert merged["description"] == "mine"


def test_a_relabelled_run_is_not_a_change(earlier) -> None:
    merged = spec.merge_base(earlier, {"name": "other", "tags": ["x"]}, label="backoff-1s")
    assert merged["description"] == earlier["description"] and merged["name"] == "other"


def test_many_changes_are_summarised() -> None:
    base = spec.defaults()
    merged = spec.merge_base(base, {"retry": {"base_s": 0.5, "cap_s": 3, "multiplier": 3,
                                              "max_attempts": 2, "max_elapsed_s": 9},
                                    "seed": 1, "repeats": 2, "warmup_s": 1}, label="demo")
    assert merged["description"].startswith("demo with ")
    assert merged["description"].endswith(" and 2 more")


def test_the_form_starts_from_an_earlier_run(finder, earlier) -> None:
    """Fields left at the form's defaults take the run's values; changed fields override them."""
    full = params.spec_from_conf(_form(base="backoff-1s", retry_base_s=0.3), find_base=finder)
    assert full["retry"]["base_s"] == 0.3
    assert full["retry"]["cap_s"] == 20.0 and full["arrival"]["rate"] == 8.0
    assert full["name"] == "backoff" and full["base"] is None
    assert full["description"] == "backoff-1s with retry.base_s=0.3"


def test_a_field_left_at_the_forms_default_keeps_the_bases_value(finder) -> None:
    """The form cannot tell "left alone" from "set to the default": the base's value stays."""
    full = params.spec_from_conf(_form(base="backoff-1s", retry_base_s=0.2), find_base=finder)
    assert full["retry"]["base_s"] == 1.0


def test_the_form_reruns_an_earlier_run_unchanged(finder, earlier) -> None:
    full = params.spec_from_conf(_form(base="backoff-1s"), find_base=finder)
    assert full == {**earlier, "base": None}


def test_without_a_base_the_demo_description_is_not_carried() -> None:
    full = params.spec_from_conf(_form(arrival_kind="gamma", llm_profile="healthy"))
    assert full["description"] == "demo with arrival.kind=gamma, llm.profile=healthy"
    assert params.spec_from_conf(_form(name="other"))["description"] == (
        params.form_defaults()["description"])


def test_an_unknown_base_is_refused_naming_the_field(finder) -> None:
    with pytest.raises(spec.SpecError) as info:
        params.spec_from_conf(_form(base="nope"), find_base=finder)
    assert info.value.field == "base"
    assert str(info.value).startswith("Start from (base): no spec file specs/nope.yaml")
    with pytest.raises(spec.SpecError) as info:
        params.spec_from_conf(_form(base="../etc"), find_base=finder)
    assert info.value.field == "base"


def test_a_spec_file_is_a_base(tmp_path: Path) -> None:
    (tmp_path / "study.yaml").write_text("name: study\ndescription: A study.\nseed: 9\n")
    found = bases.find_base("study", specs_dir=tmp_path, lookup_run=None)
    assert found["seed"] == 9
    assert bases.find_base("demo", lookup_run=None)["name"] == "demo"


def test_a_report_is_a_base(tmp_path: Path, earlier) -> None:
    (tmp_path / "backoff-1s").mkdir()
    (tmp_path / "backoff-1s" / "metrics.json").write_text(json.dumps({"spec": earlier}))
    assert bases.find_base("backoff-1s", reports_root=tmp_path, specs_dir=tmp_path,
                           lookup_run=None) == earlier


def test_the_runs_table_is_asked_last(tmp_path: Path, earlier) -> None:
    asked: list[str] = []

    def lookup(label: str) -> dict[str, Any] | None:
        asked.append(label)
        return earlier if label == "backoff-1s" else None

    assert bases.find_base("backoff-1s", reports_root=tmp_path, specs_dir=tmp_path,
                           lookup_run=lookup) == earlier
    assert bases.find_base("demo", reports_root=tmp_path, lookup_run=lookup)["name"] == "demo"
    assert asked == ["backoff-1s"]


def test_a_spec_file_with_a_base(tmp_path: Path, finder) -> None:
    path = tmp_path / "faster.yaml"
    path.write_text("base: backoff-1s\nretry: {base_s: 0.1}\n")
    full = spec.load(path, find_base=finder)
    assert full["retry"]["base_s"] == 0.1 and full["retry"]["cap_s"] == 20.0
    assert full["name"] == "backoff" and full["base"] is None
    assert full["description"] == "backoff-1s with retry.base_s=0.1"


def test_a_resolved_spec_passes_through_the_form_unchanged(tmp_path: Path, finder) -> None:
    """`harness trigger` sends a resolved spec (base consumed): the DAG's validate keeps it."""
    path = tmp_path / "faster.yaml"
    path.write_text("base: backoff-1s\nretry: {base_s: 0.1}\n")
    full = spec.load(path, find_base=finder)
    assert params.spec_from_conf(spec.flatten(full), find_base=finder) == full


def test_set_cannot_change_the_base() -> None:
    with pytest.raises(spec.SpecError) as info:
        spec.apply_overrides(spec.defaults(), ["base=backoff-1s"])
    assert info.value.field == "base" and str(info.value).startswith("Start from (base): ")


def test_a_report_without_some_fields_gives_their_defaults(tmp_path: Path, earlier, caplog) -> None:
    stored = {k: v for k, v in earlier.items() if k != "llm"}
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "metrics.json").write_text(json.dumps({"spec": stored}))
    found = bases.find_base("old", reports_root=tmp_path, specs_dir=tmp_path, lookup_run=None)
    assert spec.validate(found)["llm"] == spec.defaults()["llm"]
    assert "llm_max_tokens" in caplog.text
