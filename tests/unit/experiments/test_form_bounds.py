"""The trigger form and the spec model accept the same values, field by field.

The form's Params are generated from the model's JSON schema; these tests compare each Param's
bounds, enum and pattern with the model field's own constraints (read from pydantic, not from the
schema), then probe every bound through both: Airflow's Param validation and spec.validate must
agree on each value at and just beyond it.
"""

from __future__ import annotations

import math
from typing import Any, Literal, get_args, get_origin

import pytest
from pydantic.fields import FieldInfo

from experiments import params, spec
from pipeline.arrivals import build_arrival

pytestmark = pytest.mark.unit

_BOUND_KEYWORDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum",
                   "le": "maximum"}
#: the browser's number input clamps to minimum / maximum and knows no exclusive bound: a model
#: bound > x is shown as the clamp minimum x (the validate task refuses x itself)
_SHOWN_AS = {"exclusiveMinimum": "minimum", "minimum": "minimum",
             "exclusiveMaximum": "maximum", "maximum": "maximum"}


def _model_field(flat: str) -> FieldInfo:
    nested = spec.unflatten({flat: None})
    section = next(iter(nested))
    if isinstance(nested[section], dict):
        section_model = spec.ExperimentSpec.model_fields[section].annotation
        return section_model.model_fields[next(iter(nested[section]))]  # type: ignore[union-attr]
    return spec.ExperimentSpec.model_fields[flat]


def _metadata(info: FieldInfo) -> list[Any]:
    """The field's constraint objects, also those inside ``Annotated[...] | None``."""
    found = list(info.metadata)
    for arg in get_args(info.annotation):
        for item in getattr(arg, "__metadata__", ()):
            found += list(getattr(item, "metadata", [item]))
    return found


def _constraints(info: FieldInfo) -> dict[str, Any]:
    """JSON-schema keyword -> value of the field's own constraints (bounds, pattern, enum)."""
    out: dict[str, Any] = {}
    for item in _metadata(info):
        for attr, keyword in _BOUND_KEYWORDS.items():
            if getattr(item, attr, None) is not None:
                out[keyword] = getattr(item, attr)
        if getattr(item, "pattern", None) is not None:
            out["pattern"] = item.pattern
    if get_origin(info.annotation) is Literal:
        out["enum"] = list(get_args(info.annotation))
    return out


def _shown(constraints: dict[str, Any], optional: bool) -> dict[str, Any]:
    """What the form must carry for the model's CONSTRAINTS: the closed clamps and the enum
    (with null when the field may stay empty); patterns stay with the validate task."""
    out = {_SHOWN_AS[k]: v for k, v in constraints.items() if k in _SHOWN_AS}
    if "enum" in constraints:
        out["enum"] = [*constraints["enum"], *([None] if optional else [])]
    return out


@pytest.fixture(scope="module")
def form() -> dict[str, Any]:
    return params.build_params()


def test_every_model_field_is_a_form_field(form) -> None:
    flat = {name for name, info in spec.ExperimentSpec.model_fields.items()
            if name not in spec.SECTIONS}
    for section in spec.SECTIONS:
        model = spec.ExperimentSpec.model_fields[section].annotation
        flat |= {f"{section}_{name}" for name in model.model_fields}  # type: ignore[union-attr]
    assert set(form) == flat
    assert {"base", "llm_profile_overrides", "slo_e2e_p99_s_max", "slo_goodput_ratio_min",
            "slo_dlq_rate_max", "slo_amplification_max", "slo_e2e_p50_s_max"} <= set(form)


def test_form_bounds_equal_the_model_bounds(form) -> None:
    """minimum / maximum / enum of every Param == the model's bounds and enum (an exclusive
    bound shown as the browser's clamp); nothing the browser cannot enforce is in a Param."""
    optional = params.optional_fields()
    for name, param in form.items():
        expected = _shown(_constraints(_model_field(name)), name in optional)
        shown = {k: param.schema[k] for k in ("minimum", "maximum", "enum") if k in param.schema}
        assert shown == expected, name
        assert not {"exclusiveMinimum", "exclusiveMaximum", "pattern"} & set(param.schema), name
        assert param.schema["title"] == _model_field(name).title, name


def _probes(constraints: dict[str, Any], integer: bool) -> list[float]:
    step = 1 if integer else 1e-6
    values: list[float] = []
    for keyword, bound in constraints.items():
        if keyword in ("minimum", "exclusiveMinimum"):
            values += [bound, bound - step, bound + step]
        elif keyword in ("maximum", "exclusiveMaximum"):
            values += [bound, bound + step, bound - step]
    return values


def _form_accepts(param: Any, value: Any) -> bool:
    try:
        param.resolve(value)
    except Exception:
        return False
    return True


def _model_refusal(field: str, value: Any) -> spec.SpecError | None:
    """spec.validate's refusal of ``value`` for ``field`` itself, else None (a refusal blaming
    another field, e.g. dataset.path for a non-synthetic source, says nothing about this one)."""
    nested = spec.unflatten({field: None})
    section = next(iter(nested))
    path = f"{section}.{next(iter(nested[section]))}" if isinstance(nested[section], dict) else field
    conf = {"name": "x", field: value} if field != "name" else {"name": value}
    try:
        spec.validate(conf)
    except spec.SpecError as exc:
        if exc.field == path or exc.field.startswith(f"{path}."):
            return exc
    return None


def _model_accepts(field: str, value: Any) -> bool:
    return _model_refusal(field, value) is None


def _integer(param: Any) -> bool:
    kind = param.schema.get("type")
    return kind == "integer" or (isinstance(kind, list) and "integer" in kind)


def test_form_and_model_agree_at_every_bound(form) -> None:
    """The form refuses only what the model refuses; the model refuses beyond that only the
    exclusive bound itself (which the browser cannot express), naming the field by title."""
    checked = 0
    for name, param in form.items():
        constraints = _constraints(_model_field(name))
        exclusive = {v for k, v in constraints.items() if k.startswith("exclusive")}
        integer = _integer(param)
        for value in _probes(constraints, integer):
            value = int(value) if integer else value
            form_ok, refusal = _form_accepts(param, value), _model_refusal(name, value)
            if not form_ok:
                assert refusal is not None, (name, value)
            elif refusal is not None:
                assert value in exclusive, (name, value)
                assert str(refusal).startswith(f"{refusal.title} ({refusal.field}): must be ")
            checked += 1
    assert checked > 100


def test_form_and_model_agree_on_every_enum_value(form) -> None:
    for name, param in form.items():
        if "enum" not in param.schema:
            continue
        for value in [*param.schema["enum"], "no-such-value"]:
            if value is None:  # empty: the spec's default
                assert _form_accepts(param, value), name
                continue
            assert _form_accepts(param, value) == _model_accepts(name, value), (name, value)


# --- the values the form and the run used to disagree on ------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("arrival_cv", 50),  # the form allowed up to 100; the gamma process caps at 10
        ("arrival_cv", 0.05),  # the form allowed > 0; the gamma process needs >= 0.1
        ("arrival_off_s", -3),  # below the browser's clamp
        ("arrival_rate", -3),  # the example: the browser clamps it to 0
    ],
)
def test_values_the_run_refuses_are_refused_by_the_form(form, field: str, value: float) -> None:
    assert not _form_accepts(form[field], value)
    with pytest.raises(spec.SpecError) as info:
        spec.validate({"name": "x", field: value})
    assert info.value.field == field.replace("_", ".", 1)
    assert str(info.value).startswith(f"{info.value.title} ({info.value.field}): must be ")


@pytest.mark.parametrize(("field", "title"), [("arrival_off_s", "Off time (s)"),
                                              ("arrival_rate", "Rate (questions/s)")])
def test_an_exclusive_bound_is_refused_by_validate_naming_the_field(form, field, title) -> None:
    """The browser clamps to 0; exactly 0 is refused by the validate task, not with a schema."""
    assert form[field].schema["minimum"] == 0
    with pytest.raises(spec.SpecError) as info:
        params.spec_from_conf({**_conf(form), field: 0})
    assert str(info.value) == f"{title} ({field.replace('_', '.', 1)}): must be > 0, got 0"


def _conf(form: dict[str, Any]) -> dict[str, Any]:
    """The form's values as submitted untouched (fresh Params: resolve(value) keeps the value)."""
    return {name: param.resolve() for name, param in params.build_params().items()}


@pytest.mark.parametrize("field", ["arrival_rate", "arrival_rate_from", "arrival_rate_to"])
def test_rates_up_to_the_arrival_models_maximum_are_accepted(form, field: str) -> None:
    """The form capped rates at 10,000/s; the arrival processes accept up to 100,000/s."""
    assert _form_accepts(form[field], 50_000)
    full = spec.validate({"name": "x", "arrival_kind": "ramp" if "from" in field or "to" in field
                          else "poisson", field: 50_000})
    process = build_arrival(spec.arrival_spec(full))
    assert math.isfinite(process.expected_count(1.0))
    assert not _form_accepts(form[field], 100_001)


def test_onoff_spec_the_form_accepts_builds() -> None:
    full = spec.validate({"name": "x", "arrival": {"kind": "onoff", "off_s": 0.5, "cv": 10}})
    assert build_arrival(spec.arrival_spec(full)).expected_count(10.5) > 0


def test_message_names_title_and_path() -> None:
    with pytest.raises(spec.SpecError) as info:
        spec.validate({"name": "x", "arrival": {"rate": 0}})
    assert str(info.value) == "Rate (questions/s) (arrival.rate): must be > 0, got 0"
    assert (info.value.field, info.value.title) == ("arrival.rate", "Rate (questions/s)")


# --- what the browser shows and enforces -----------------------------------------------------


def test_retry_on_is_a_multi_select_of_the_error_classes(form) -> None:
    """Airflow's form renders an array with ``examples`` as a multi-select of them."""
    from pipeline.messages import ErrorClass

    schema = form["retry_retry_on"].schema
    classes = [str(c) for c in ErrorClass]
    assert schema["type"] == "array"
    assert schema["examples"] == classes and schema["items"]["enum"] == classes
    assert set(schema["values_display"]) == set(classes)
    assert _form_accepts(params.build_params()["retry_retry_on"], ["overload", "rate_limited"])
    assert not _form_accepts(params.build_params()["retry_retry_on"], ["overload", "typo"])


def test_fields_of_another_kind_are_optional_and_say_when_they_apply(form) -> None:
    """Not required (no red star), with "Only for ..." in their help; null = the default."""
    for dotted, (controller, values) in spec.APPLIES_WHEN.items():
        name = dotted.replace(".", "_", 1)
        schema = form[name].schema
        assert "null" in schema["type"], name
        help_text = schema.get("description_md") or form[name].description
        assert "only for" in help_text.lower(), name
        assert controller.split(".")[1].replace("_", " ") in help_text, name
        assert all(value in help_text for value in values), name
    for name in ("name", "arrival_kind", "arrival_duration_s", "retry_kind", "seed"):
        assert "null" not in form[name].schema["type"], name


def test_an_empty_field_takes_the_default() -> None:
    conf = _conf({})
    conf.update(arrival_cv=None, arrival_steps=None, dataset_path=None, retry_jitter=None)
    full = params.spec_from_conf(conf)
    assert full["arrival"]["cv"] == spec.defaults()["arrival"]["cv"]
    assert full["arrival"]["steps"] == spec.defaults()["arrival"]["steps"]
    assert full["dataset"]["path"] == "" and full["retry"]["jitter"] == "full"


def test_fault_profiles_are_listed_one_per_line(form) -> None:
    from pipeline.llm.sim.profiles import NAMED_PROFILES

    param = form["llm_profile"]
    assert param.description is None  # Airflow shows description_md only without description
    lines = [line for line in param.schema["description_md"].splitlines() if line.startswith("- ")]
    assert [line.split("**")[1] for line in lines] == list(NAMED_PROFILES)


def test_profile_overrides_is_an_object_field(form) -> None:
    param = params.build_params()["llm_profile_overrides"]
    assert param.schema["type"] == ["object", "null"]
    assert _form_accepts(param, {"rate_limits": {"requests_per_min": 60}})
    assert _form_accepts(param, None)


def test_slo_thresholds_are_optional_numbers(form) -> None:
    for name in ("slo_e2e_p50_s_max", "slo_e2e_p99_s_max", "slo_goodput_ratio_min",
                 "slo_dlq_rate_max", "slo_amplification_max"):
        assert form[name].schema["type"] == ["number", "null"], name
        assert form[name].schema["section"] == "Service-level objectives"
        assert _form_accepts(params.build_params()[name], None)
