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
    """Every form field carries its spec property's title, section and type (null added for the
    fields that may stay empty); bounds are checked in test_form_bounds.py."""
    schemas = params.param_schemas()
    flat = spec.flat_properties()
    assert set(schemas) == set(flat)
    optional = params.optional_fields()
    assert {"dataset_path", "llm_base_url", "arrival_trace_path", "base",
            "llm_profile_overrides", "slo_e2e_p99_s_max", "arrival_cv"} <= optional
    for name, (section, prop) in flat.items():
        form = schemas[name]
        assert form.get("title") == prop.get("title"), name
        assert form.get("section") == section
        types = form["type"] if isinstance(form["type"], list) else [form["type"]]
        assert ("null" in types) == (name in optional), name
        if prop.get("type") == "string" and prop.get("default") == "":
            assert form["default"] is None  # empty text: null in the form (Airflow refuses "")
        elif "type" in prop:
            assert prop["type"] in types, name
            assert form["default"] == prop.get("default"), name


def test_no_form_field_is_required_with_an_empty_default():
    """Airflow's trigger form refuses a run whose required text field is empty."""
    for name, schema in params.param_schemas().items():
        if schema["default"] in ("", None):
            assert "null" in schema["type"], name


def test_spec_round_trips_through_airflow_params():
    """A spec -> the DAG's Params (Airflow validates each value) -> conf -> the same spec, but
    for the description: the demo's does not fit a run with another backoff."""
    full = spec.apply_overrides(spec.load(spec.SPECS_DIR / "demo.yaml"), ["retry.base_s=0.7"])
    dag_params = params.build_params(full)
    conf = {name: param.resolve() for name, param in dag_params.items()}
    assert params.spec_from_conf(conf) == {**full, "description": "demo with retry.base_s=0.7"}


def test_the_form_untouched_is_the_demo():
    conf = {name: param.resolve() for name, param in params.build_params().items()}
    assert params.spec_from_conf(conf) == params.form_defaults()


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


# --- a custom simulator profile --------------------------------------------------------------

_PROVIDER = {"rate_limits": {"requests_per_min": 60, "tokens_per_min": 40_000},
             "latency": {"median_s": 2.0}, "errors": [{"status": 529, "probability": 0.03}]}


def test_profile_overrides_model_ones_own_provider():
    """60 requests/min, 40k tokens/min, a 2 s median latency and 3% 529s, over a named base."""
    full = spec.validate({"name": "x", "llm": {"profile": "healthy", "profile_overrides": _PROVIDER}})
    assert full["llm"]["profile_overrides"] == _PROVIDER
    profile = spec.simulator_profile(full["llm"]["profile"], full["llm"]["profile_overrides"])
    assert profile.rate_limits.requests_per_min == 60 and profile.rate_limits.tokens_per_min == 40_000
    assert profile.latency.median_s == 2.0 and profile.latency.fixed_s == 0.02  # merged, not reset
    assert [(e.status, e.probability) for e in profile.errors] == [(529, 0.03)]
    assert spec.validate(full) == full  # stored with the run as it is (metrics.json's spec)


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"rate_limits": {"requests_per_min": -1}}, "llm.profile_overrides.rate_limits.requests_per_min",
     "must be >= 0, got -1"),
    ({"errors": [{"status": 404}]}, "llm.profile_overrides.errors.0.status", "must be one of"),
    ({"latency": {"median": 2}}, "llm.profile_overrides.latency.median",
     "not a field of the simulator's profile"),
    ({"name": "healthy"}, "llm.profile_overrides.name", "not an override"),
    ({"quality": {"min_words": 50, "max_words": 10}}, "llm.profile_overrides.quality",
     "min_words must be <= max_words"),
])
def test_profile_overrides_errors_name_the_path_inside(overrides, field, message):
    with pytest.raises(spec.SpecError) as info:
        spec.validate({"name": "x", "llm": {"profile_overrides": overrides}})
    assert info.value.field == field
    assert str(info.value).startswith(f"Profile overrides ({field}): {message}")


def test_profile_overrides_are_refused_for_backend_openai():
    with pytest.raises(spec.SpecError) as info:
        spec.validate({"name": "x", "llm": {"backend": "openai", "base_url": "http://h:1/v1",
                                            "profile_overrides": {"latency": {"median_s": 1}}}})
    assert info.value.field == "llm.profile_overrides"
    assert "apply only to the simulator" in str(info.value)
    assert spec.validate({"name": "x", "llm": {"backend": "openai", "base_url": "http://h:1/v1",
                                               "profile_overrides": {}}})


def test_profile_overrides_through_the_form():
    conf = {name: param.resolve() for name, param in params.build_params().items()}
    full = params.spec_from_conf({**conf, "llm_profile_overrides": _PROVIDER})
    assert full["llm"]["profile_overrides"] == _PROVIDER
    assert full["description"].startswith('demo with llm.profile_overrides={"rate_limits"')
    assert full["description"].endswith("...") and len(full["description"]) < 80
