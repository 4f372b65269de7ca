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


def _model_field(flat: str) -> FieldInfo:
    section, _, name = flat.partition("_")
    if section in spec.SECTIONS and name:
        section_model = spec.ExperimentSpec.model_fields[section].annotation
        return section_model.model_fields[name]  # type: ignore[union-attr]
    return spec.ExperimentSpec.model_fields[flat]


def _constraints(info: FieldInfo) -> dict[str, Any]:
    """JSON-schema keyword -> value of the field's own constraints (bounds, pattern, enum)."""
    out: dict[str, Any] = {}
    for item in info.metadata:
        for attr, keyword in _BOUND_KEYWORDS.items():
            if getattr(item, attr, None) is not None:
                out[keyword] = getattr(item, attr)
        if getattr(item, "pattern", None) is not None:
            out["pattern"] = item.pattern
    if get_origin(info.annotation) is Literal:
        out["enum"] = list(get_args(info.annotation))
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


def test_form_bounds_equal_the_model_bounds(form) -> None:
    """minimum / maximum / exclusive bounds / enum / pattern of every Param == the model's."""
    keywords = (*_BOUND_KEYWORDS.values(), "enum", "pattern")
    for name, param in form.items():
        model = _constraints(_model_field(name))
        shown = {k: param.schema[k] for k in keywords if k in param.schema}
        assert shown == model, name
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


def _model_accepts(field: str, value: Any) -> bool:
    """False when spec.validate refuses ``value`` for ``field`` itself (a refusal blaming another
    field, e.g. dataset.path for a non-synthetic source, says nothing about this one)."""
    section, _, name = field.partition("_")
    path = f"{section}.{name}" if section in spec.SECTIONS and name else field
    conf = {"name": "x", field: value} if field != "name" else {"name": value}
    try:
        spec.validate(conf)
    except spec.SpecError as exc:
        return not (exc.field == path or exc.field.startswith(f"{path}."))
    return True


def test_form_and_model_agree_at_every_bound(form) -> None:
    checked = 0
    for name, param in form.items():
        constraints = _constraints(_model_field(name))
        integer = param.schema.get("type") == "integer"
        for value in _probes(constraints, integer):
            value = int(value) if integer else value
            assert _form_accepts(param, value) == _model_accepts(name, value), (name, value)
            checked += 1
    assert checked > 100


def test_form_and_model_agree_on_every_enum_value(form) -> None:
    for name, param in form.items():
        for value in [*param.schema.get("enum", []), "no-such-value"]:
            assert _form_accepts(param, value) == _model_accepts(name, value), (name, value)


# --- the values the form and the run used to disagree on ------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("arrival_off_s", 0),  # the form allowed 0; the on/off process needs > 0
        ("arrival_cv", 50),  # the form allowed up to 100; the gamma process caps at 10
        ("arrival_cv", 0.05),  # the form allowed > 0; the gamma process needs >= 0.1
    ],
)
def test_values_the_run_refuses_are_refused_by_the_form(form, field: str, value: float) -> None:
    assert not _form_accepts(form[field], value)
    with pytest.raises(spec.SpecError) as info:
        spec.validate({"name": "x", field: value})
    assert info.value.field == field.replace("_", ".", 1)
    assert str(info.value).startswith(f"{info.value.title} ({info.value.field}): must be ")


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
