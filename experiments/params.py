"""The Airflow trigger form of the `experiment` DAG, generated from the experiment spec's model.

Each flat spec field (``retry_base_s``) becomes one typed Param carrying the very JSON schema of
that field (type, title, description, enum, bounds), as :class:`experiments.spec.ExperimentSpec`
generates it, grouped in the form by the spec's sections. Nothing about a field is written twice:
change the model and the form follows (tests/unit/experiments/test_form_bounds.py checks that the
form and the model accept the same values).
"""

from __future__ import annotations

import copy
from typing import Any

from experiments import spec as spec_module

# JSON-schema keywords a Param passes on to the form (the rest of a property is ours).
_FORM_KEYWORDS = ("type", "title", "description", "enum", "minimum", "maximum", "exclusiveMinimum",
                  "exclusiveMaximum", "pattern", "items", "uniqueItems", "minLength", "maxLength")


def param_schemas(base: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Flat field -> {"default": ..., **schema keywords, "section": ...} for every form field.

    BASE (a complete, validated spec) supplies the defaults; the schema's defaults otherwise.
    """
    values = spec_module.flatten(base or spec_module.defaults())
    out: dict[str, dict[str, Any]] = {}
    for name, (section, prop) in spec_module.flat_properties().items():
        schema = {k: copy.deepcopy(v) for k, v in prop.items() if k in _FORM_KEYWORDS}
        if section:
            schema["section"] = section
        default = values.get(name, prop.get("default"))
        if name in optional_text_fields():
            # Airflow's form treats an empty string field as missing and refuses to trigger:
            # an optional text field is "string or null" there, and null means "" in the spec.
            schema["type"] = ["string", "null"]
            default = default or None
        out[name] = {"default": default, **schema}
    return out


def optional_text_fields() -> set[str]:
    """Flat fields that are text and may stay empty (their spec default is "")."""
    return {name for name, (_, prop) in spec_module.flat_properties().items()
            if prop.get("type") == "string" and prop.get("default") == ""}


def build_params(base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `params=` of the experiment DAG (airflow.sdk.Param objects)."""
    from airflow.sdk import Param

    params: dict[str, Any] = {}
    for name, schema in param_schemas(base).items():
        schema = dict(schema)
        default = schema.pop("default")
        description = schema.pop("description", None)
        params[name] = Param(default, description=description, **schema)
    return params


def spec_from_conf(conf: dict[str, Any]) -> dict[str, Any]:
    """The validated nested spec from a DAG run's params (flat) — SpecError names a bad field."""
    known = set(spec_module.flat_properties())
    unknown = sorted(set(conf) - known)
    if unknown:
        raise spec_module.SpecError(unknown[0], "not a field of the experiment spec")
    optional = optional_text_fields()
    values = {k: ("" if v is None and k in optional else v) for k, v in conf.items()}
    return spec_module.validate(spec_module.unflatten(values))
