"""The Airflow trigger form of the `experiment` DAG, generated from the experiment spec's model.

Each flat spec field (``retry_base_s``) becomes one typed Param carrying the JSON schema of that
field as :class:`experiments.spec.ExperimentSpec` generates it, grouped in the form by the spec's
sections. Nothing about a field is written twice: change the model and the form follows
(tests/unit/experiments/test_form_bounds.py checks that the form and the model agree).

What Airflow 3's trigger form enforces in the browser, and so what a Param carries:

- ``type``: a type without ``"null"`` is *required* (a red star; an empty value disables
  Trigger). Fields that may stay empty, and fields that apply only to some arrival kinds,
  backends or backoff kinds (:data:`experiments.spec.APPLIES_WHEN`), are ``[type, "null"]``;
  their description says when they apply, and null means "the default" (or the base's value).
- ``minimum`` / ``maximum``: the number input clamps to them when it loses focus. The browser has
  no exclusive bounds, so a model bound ``> 0`` is shown as the clamp ``minimum: 0``; the
  validate task then refuses exactly 0, naming the field.
- ``enum`` (a dropdown), ``examples`` + ``values_display`` on an array (a multi-select: Retry on),
  ``description_md`` (markdown help: the fault profiles, one line each).

Everything else (exclusive bounds, patterns, rules across fields, the simulator profile
overrides) is checked by the validate task through the spec model, whose refusal names the field
by title and dotted path (``Rate (questions/s) (arrival.rate): must be > 0, got 0``). Airflow's
own refusal of a Param quotes the whole schema, so the Params keep nothing the browser cannot
enforce itself.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any

from experiments import spec as spec_module
from pipeline.messages import ErrorClass

__all__ = [
    "FORM_SPEC",
    "build_params",
    "form_defaults",
    "optional_fields",
    "param_schemas",
    "spec_from_conf",
]

#: the spec file whose values are the form's defaults
FORM_SPEC = spec_module.SPECS_DIR / "demo.yaml"

# Schema keywords the trigger form uses (see the module's docstring), copied as they are.
_FORM_KEYWORDS = ("type", "title", "description", "enum", "minimum", "maximum", "minLength",
                  "maxLength", "uniqueItems", "examples", "values_display", "description_md")
_ITEM_KEYWORDS = ("type", "enum", "maxLength")
_ERROR_CLASS_LABELS = {
    str(ErrorClass.OVERLOAD): "overload (5xx, 529, timeouts)",
    str(ErrorClass.RATE_LIMITED): "rate_limited (429 rate limit)",
    str(ErrorClass.QUOTA_EXHAUSTED): "quota_exhausted (429 insufficient_quota)",
    str(ErrorClass.INVALID_REQUEST): "invalid_request (4xx)",
    str(ErrorClass.BAD_COMPLETION): "bad_completion (empty or unparseable)",
}


@functools.cache
def _form_defaults() -> dict[str, Any]:
    return spec_module.load(FORM_SPEC)


def form_defaults() -> dict[str, Any]:
    """The complete spec whose values the form shows (experiments/specs/demo.yaml)."""
    return copy.deepcopy(_form_defaults())


def _dotted(flat: str) -> str:
    nested = spec_module.unflatten({flat: None})
    section = next(iter(nested))
    return f"{section}.{next(iter(nested[section]))}" if isinstance(nested[section], dict) else flat


def _nullable(prop: Mapping[str, Any]) -> dict[str, Any]:
    """``anyOf: [{type: T, ...}, {type: null}]`` (pydantic's ``T | None``) as ``{type: [T,
    "null"], ...}``, the shape Airflow's form reads."""
    options = prop.get("anyOf")
    if not options:
        return dict(prop)
    typed = [o for o in options if o.get("type") != "null"]
    if len(typed) != 1 or len(typed) == len(options):
        return dict(prop)
    rest = {k: v for k, v in prop.items() if k != "anyOf"}
    return {**typed[0], **rest, "type": [typed[0].get("type", "string"), "null"]}


def _browser_bounds(prop: dict[str, Any]) -> None:
    """Exclusive bounds as the number input's clamps (the browser has no exclusive bounds)."""
    if "exclusiveMinimum" in prop and "minimum" not in prop:
        prop["minimum"] = prop["exclusiveMinimum"]
    if "exclusiveMaximum" in prop and "maximum" not in prop:
        prop["maximum"] = prop["exclusiveMaximum"]


def _applies_note(flat: str) -> str | None:
    when = spec_module.APPLIES_WHEN.get(_dotted(flat))
    if when is None:
        return None
    controller, values = when
    return f"Only for {controller.replace('.', ' ').replace('_', ' ')} {' or '.join(values)}."


def optional_fields() -> set[str]:
    """Flat fields the form lets stay empty: text whose spec default is "", fields whose model
    allows null, and fields that apply only to some kinds (:data:`spec.APPLIES_WHEN`)."""
    out = set()
    for name, (_, prop) in spec_module.flat_properties().items():
        nullable = "null" in (_nullable(prop).get("type") or [])
        empty_text = prop.get("type") == "string" and prop.get("default") == ""
        if nullable or empty_text or _dotted(name) in spec_module.APPLIES_WHEN:
            out.add(name)
    return out


def param_schemas(base: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Flat field -> {"default": ..., **schema keywords, "section": ...} for every form field.

    BASE (a complete, validated spec) supplies the defaults; the schema's defaults otherwise.
    """
    values = spec_module.flatten(base or spec_module.defaults())
    optional = optional_fields()
    out: dict[str, dict[str, Any]] = {}
    for name, (section, raw) in spec_module.flat_properties().items():
        prop = _nullable(raw)
        _browser_bounds(prop)
        schema = {k: copy.deepcopy(v) for k, v in prop.items() if k in _FORM_KEYWORDS}
        if isinstance(prop.get("items"), dict):
            schema["items"] = {k: v for k, v in prop["items"].items() if k in _ITEM_KEYWORDS}
            if "type" not in schema["items"]:
                schema["items"]["type"] = "object"
        enum_items = schema.get("items", {}).get("enum")
        if schema.get("type") == "array" and enum_items:
            # Airflow's multi-select: the choices are the array's examples
            schema["examples"] = list(enum_items)
            if name == "retry_retry_on":
                schema["values_display"] = {k: v for k, v in _ERROR_CLASS_LABELS.items()
                                            if k in enum_items}
        if section:
            schema["section"] = section
        default = values.get(name, prop.get("default"))
        if name in optional:
            kind = schema.get("type", "string")
            if not isinstance(kind, list):
                schema["type"] = [kind, "null"]
            if "enum" in schema and None not in schema["enum"]:
                schema["enum"] = [*schema["enum"], None]  # jsonschema checks null against enum
            if default == "":
                # Airflow's form treats an empty string as missing: null means "" in the spec
                default = None
        note = _applies_note(name)
        for key in ("description", "description_md"):
            if note and key in schema and "only for" not in str(schema[key]).lower():
                schema[key] = f"{schema[key]}\n\n{note}" if key == "description_md" else (
                    f"{schema[key]} {note}")
        out[name] = {"default": default, **schema}
    return out


def build_params(base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `params=` of the experiment DAG (airflow.sdk.Param objects); BASE (a complete spec,
    by default :func:`form_defaults`) gives the values shown."""
    from airflow.sdk import Param

    params: dict[str, Any] = {}
    for name, schema in param_schemas(base or form_defaults()).items():
        schema = dict(schema)
        default = schema.pop("default")
        description = schema.pop("description", None)
        if "description_md" in schema:
            description = None  # the form shows description_md only when there is no description
        params[name] = Param(default, description=description, **schema)
    return params


def spec_from_conf(
    conf: Mapping[str, Any],
    *,
    defaults: Mapping[str, Any] | None = None,
    find_base: spec_module.BaseFinder | None = None,
) -> dict[str, Any]:
    """The validated nested spec from a DAG run's params (flat); SpecError names a bad field.

    A field left at the form's default (DEFAULTS, by default :func:`form_defaults`) or left
    empty (null) takes the base's value: the spec named by ``base`` when given (a spec file or an
    earlier run, :mod:`experiments.bases`), else the form's defaults. The fields the user
    changed override it (:func:`experiments.spec.merge_base`, which also picks the run's
    description).
    """
    known = set(spec_module.flat_properties())
    unknown = sorted(set(conf) - known)
    if unknown:
        raise spec_module.SpecError(unknown[0], "not a field of the experiment spec")
    shown = spec_module.flatten(defaults if defaults is not None else form_defaults())
    changed = {k: v for k, v in conf.items()
               if v is not None and (k not in shown or v != shown[k]) and k != "base"}
    base_name = conf.get("base")
    if base_name:
        overrides = spec_module.unflatten({**changed, "base": base_name})
        return spec_module.resolve_base(overrides, find_base=find_base)
    base = spec_module.validate(spec_module.unflatten(shown))
    return spec_module.merge_base(base, spec_module.unflatten(changed), label=base["name"])
