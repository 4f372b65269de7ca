"""The experiment spec: one schema for YAML files, the Airflow form and overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import params, spec


def test_defaults_are_a_valid_spec():
    full = spec.validate({"name": "x"})
    assert full == spec.validate(full)
    assert full["retry"]["kind"] == "exponential_jitter"
    assert full["scoring"] == {"threshold": 0.3, "max_rounds": 2, "scorer": "lexical"}


@pytest.mark.parametrize("path", sorted(spec.SPECS_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_spec_is_valid(path: Path):
    assert spec.load(path)["name"]


@pytest.mark.parametrize(("patch", "field"), [
    ({"retry": {"base_s": -1}}, "retry.base_s"),
    ({"retry": {"kind": "forever"}}, "retry.kind"),
    ({"arrival": {"rate": 0}}, "arrival.rate"),
    ({"arrival": {"steps": "0:2,oops"}, "name": "x"}, "arrival.steps"),
    ({"scoring": {"threshold": 3}}, "scoring.threshold"),
    ({"workers": {"count": 0}}, "workers.count"),
    ({"llm": {"profile": "nope"}}, "llm.profile"),
    ({"llm": {"backend": "openai"}}, "llm.base_url"),
    ({"dataset": {"source": "yahoo_csv"}}, "dataset.path"),
    ({"bogus": 1}, "bogus"),
    ({"retry": {"bogus": 1}}, "retry.bogus"),
    ({"name": "bad name!"}, "name"),
    ({"arrival": {"kind": "trace"}}, "arrival.trace_path"),
    ({"arrival": {"kind": "ramp", "rate_from": 0, "rate_to": 0}}, "arrival.rate_to"),
    ({"arrival": {"kind": "step", "steps": "0:2, 0:4"}}, "arrival.steps"),
    ({"retry": {"jitter": "decorrelated", "base_s": 0}}, "retry.base_s"),
    ({"retry": {"max_deferrals": 101}}, "retry.max_deferrals"),
    ({"workers": {"count": 2.5}}, "workers.count"),
    ({"seed": "7"}, "seed"),
])
def test_invalid_values_are_refused_naming_the_field(patch, field):
    with pytest.raises(spec.SpecError) as info:
        spec.validate({"name": "x", **patch})
    assert info.value.field == field
    assert field in str(info.value)


def test_errors_name_the_field_by_title_and_path():
    with pytest.raises(spec.SpecError) as info:
        spec.validate({"name": "x", "retry": {"base_s": -1}})
    assert str(info.value) == "Base delay (s) (retry.base_s): must be >= 0, got -1"
    assert isinstance(info.value, ValueError) and info.value.title == "Base delay (s)"
    with pytest.raises(spec.SpecError, match=r"^Run name \(name\): required$"):
        spec.validate({})
    with pytest.raises(spec.SpecError) as info:
        spec.validate(["name"])  # type: ignore[arg-type]
    assert info.value.field == "$"


def test_validated_spec_is_plain_json():
    """Airflow passes the validated spec between tasks as JSON."""
    full = spec.validate({"name": "x", "workers": {"count": 2.0}, "arrival": {"rate": 4}})
    assert json.loads(json.dumps(full)) == full
    assert full["workers"]["count"] == 2 and type(full["workers"]["count"]) is int
    assert spec.defaults() == spec.validate({"name": "demo"})


def test_sections_reuse_the_pipeline_models():
    from pipeline.retry.spec import RetryPolicySpec, default_spec

    retry = spec.ExperimentSpec.model_fields["retry"].annotation
    assert issubclass(retry, RetryPolicySpec)
    assert spec.retry_policy(spec.defaults()) == default_spec()
    policy_props = spec.schema()["properties"]["retry"]["properties"]
    from pipeline.retry.spec import policy_schema

    for name, prop in policy_schema()["properties"].items():
        assert policy_props[name] == prop, name


def test_flat_form_round_trip():
    full = spec.load(spec.SPECS_DIR / "demo.yaml")
    flat = spec.flatten(full)
    assert "retry_base_s" in flat and "scoring_threshold" in flat
    assert spec.unflatten(flat) == full
    assert spec.validate(flat) == full  # the flat shape validates against the same schema


def test_overrides():
    full = spec.load(spec.SPECS_DIR / "demo.yaml")
    changed = spec.apply_overrides(full, ["retry.base_s=0.5", "scoring_max_rounds=0", "seed=7",
                                          "retry.jitter=decorrelated"])
    assert changed["retry"]["base_s"] == 0.5
    assert changed["retry"]["jitter"] == "decorrelated"
    assert changed["scoring"]["max_rounds"] == 0 and changed["seed"] == 7
    with pytest.raises(spec.SpecError, match=r"retry\.cap_s"):
        spec.apply_overrides(full, ["retry.cap_s=-2"])


def test_params_schema_is_the_spec_schema():
    """Every form field carries exactly its spec property's schema (same type, bounds, enum)."""
    schemas = params.param_schemas()
    flat = spec.flat_properties()
    assert set(schemas) == set(flat)
    optional = params.optional_text_fields()
    assert {"dataset_path", "llm_base_url", "arrival_trace_path"} <= optional
    for name, (section, prop) in flat.items():
        form = schemas[name]
        for keyword in ("title", "enum", "minimum", "maximum", "exclusiveMinimum", "pattern"):
            assert form.get(keyword) == prop.get(keyword), (name, keyword)
        assert form.get("section") == section
        if name in optional:  # empty text: null in the form (Airflow's form refuses "")
            assert form["type"] == ["string", "null"] and form["default"] is None
        else:
            assert form["type"] == prop["type"]
            assert form["default"] == prop.get("default")


def test_no_form_field_is_required_with_an_empty_default():
    """Airflow's trigger form refuses a run whose required text field is empty."""
    for name, schema in params.param_schemas().items():
        if schema["default"] == "":
            assert "null" in schema["type"], name


def test_spec_round_trips_through_airflow_params():
    """A spec -> the DAG's Params (Airflow validates each value) -> conf -> the same spec."""
    full = spec.apply_overrides(spec.load(spec.SPECS_DIR / "demo.yaml"), ["retry.base_s=0.7"])
    dag_params = params.build_params(full)
    conf = {name: param.resolve() for name, param in dag_params.items()}
    assert params.spec_from_conf(conf) == full


def test_airflow_params_refuse_out_of_range_values():
    from airflow.sdk import Param

    param: Param = params.build_params()["retry_base_s"]
    with pytest.raises(Exception, match="minimum"):
        param.resolve(-1.0)


def test_conf_with_unknown_field_is_refused():
    with pytest.raises(spec.SpecError) as info:
        params.spec_from_conf({"name": "x", "retry_bogus": 1})
    assert info.value.field == "retry_bogus"


def test_records_carry_the_llm_endpoint_only_for_backend_openai():
    from experiments.runner import experiment_policy

    sim = spec.validate({"name": "x", "llm": {"model": "sim-gpt", "max_tokens": 64}})
    assert experiment_policy(sim)["llm"] == {"model": "sim-gpt", "max_tokens": 64,
                                             "timeout_s": sim["llm"]["timeout_s"], "base_url": ""}
    real = spec.validate({"name": "x", "llm": {"backend": "openai", "model": "llama-3-8b",
                                               "base_url": "http://vllm.local:9000/v1"}})
    assert experiment_policy(real)["llm"]["base_url"] == "http://vllm.local:9000/v1"
    assert experiment_policy(real)["llm"]["model"] == "llama-3-8b"
