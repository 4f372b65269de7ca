"""The one spec mechanism: pydantic models, one error type, one error-to-field helper.

Every user-written spec (the experiment spec, its retry policy and arrival process, the topic
spec) is a :class:`SpecModel`. A model is the single source of a field's type, bounds, enum,
pattern, title and description: its JSON schema (:func:`form_schema`) drives the Airflow form,
and its validation checks the YAML files, the form's values and ``--set`` overrides.

An invalid spec raises :class:`SpecError`, whose message names the field by its title and its
dotted path::

    Rate (questions/s) (arrival.rate): must be > 0

Rules spanning several fields live in ``model_validator``s that raise :func:`rule` errors, which
name the field they blame (a model-level pydantic error has no location of its own).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, NamedTuple, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "FieldProblem",
    "SpecError",
    "SpecModel",
    "field_error",
    "form_schema",
    "one_of",
    "rule",
    "spec_error",
    "title_of",
    "validate_model",
]

M = TypeVar("M", bound=BaseModel)
Loc = Sequence[str | int]

_RULE = "spec_rule"


class FieldProblem(NamedTuple):
    """One invalid field: its dotted path, its title (None when the model gives none), why."""

    field: str
    message: str
    title: str | None = None

    def __str__(self) -> str:
        return f"{self.title} ({self.field}): {self.message}" if self.title else (
            f"{self.field}: {self.message}")


class SpecError(ValueError):
    """An invalid spec. ``field`` is the offending field's dotted path (``retry.base_s``; ``$``
    for the whole spec), ``title`` its title when known, ``message`` the reason; ``errors`` lists
    every problem found (the first is the one named)."""

    def __init__(
        self,
        field: str,
        message: str,
        *,
        title: str | None = None,
        errors: Sequence[FieldProblem] | None = None,
    ) -> None:
        first = FieldProblem(field, message, title)
        super().__init__(str(first))
        self.field = field
        self.title = title
        self.message = message
        self.errors: list[FieldProblem] = list(errors) if errors else [first]


class SpecModel(BaseModel):
    """Base of every spec model: unknown fields are errors, values keep their JSON types (no
    "2" for 2), infinities and NaN are refused.

    JSON has one number type, and JSON schema calls 5.0 an integer: so does a spec model (an
    integral float given for an ``int`` field is that int), lest a value the form accepts be
    refused by the run."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _integral_floats_are_ints(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        fixed = {
            name: int(value)
            for name, info in cls.model_fields.items()
            if _holds_int(info.annotation)
            and isinstance(value := data.get(name), float)
            and value.is_integer()
        }
        return {**data, **fixed} if fixed else data


def _holds_int(annotation: Any) -> bool:
    """``int`` or ``int | None``."""
    return annotation is int or (
        int in get_args(annotation) and set(get_args(annotation)) <= {int, type(None)}
    )


def one_of(values: Iterable[str]) -> Any:
    """``Literal[*values]`` for values known only at import time (registries, enums)."""
    return Literal[tuple(values)]


def rule(field: str, message: str) -> PydanticCustomError:
    """The error a ``model_validator`` raises for a rule over several fields; ``field`` (a path
    relative to the model) is the one the message blames."""
    return PydanticCustomError(_RULE, "{message}", {"field": field, "message": message})


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, itself or inside list[...], X | None, dict[str, ...]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def title_of(model: type[BaseModel], path: Loc) -> str | None:
    """The title of the deepest field of ``model`` that ``path`` goes through (list indices and
    mapping keys keep their container's title). Fields are found by name or alias."""
    title: str | None = None
    current: type[BaseModel] | None = model
    for part in path:
        if current is None or isinstance(part, int):
            continue
        fields = current.model_fields
        info = fields.get(part) or next((f for f in fields.values() if f.alias == part), None)
        if info is None:
            break
        title = info.title
        current = _model_in(info.annotation)
    return title


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _message(error: Mapping[str, Any]) -> str:
    """A short reason for one pydantic error ("must be > 0" rather than "Input should be ...")."""
    kind, ctx = error["type"], error.get("ctx") or {}
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
              "less_than_equal": "<="}
    if kind in bounds:
        key = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt",
               "less_than_equal": "le"}[kind]
        return f"must be {bounds[kind]} {_number(ctx[key])}, got {error['input']!r}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}, got {error['input']!r}"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx['pattern']}, got {error['input']!r}"
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "not a field of this spec"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected an object, got {type(error['input']).__name__}"
    simple = {
        "int_type": "must be an integer",
        "int_from_float": "must be an integer",
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "finite_number": "must be a finite number",
        "string_type": "must be text",
        "bool_type": "must be true or false",
        "list_type": "must be a list",
        "tuple_type": "must be a list",
    }
    if kind in simple:
        return f"{simple[kind]}, got {error['input']!r}"
    return str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _problem(error: Mapping[str, Any], model: type[BaseModel]) -> FieldProblem:
    loc: list[str | int] = list(error["loc"])
    message = _message(error)
    if error["type"] == _RULE:
        ctx = error["ctx"]
        loc += [int(p) if p.isdigit() else p for p in str(ctx["field"]).split(".") if p]
        message = str(ctx["message"])
    return FieldProblem(".".join(str(p) for p in loc) or "$", message, title_of(model, loc))


def spec_error(
    exc: ValidationError, model: type[BaseModel], *, prefix: Loc = ()
) -> SpecError:
    """The one error-to-field helper: a :class:`SpecError` naming the first invalid field of
    ``exc`` (raised validating ``model``) by title and path, every problem in ``errors``.

    ``prefix`` locates ``model`` inside a larger spec (``("retry",)``); titles are still looked
    up from ``model`` when the prefix is not one of its fields.
    """
    problems = [_problem(e, model) for e in exc.errors(include_url=False)]
    if prefix:
        dotted = ".".join(str(p) for p in prefix)
        problems = [
            FieldProblem(f"{dotted}.{p.field}" if p.field != "$" else dotted, p.message, p.title)
            for p in problems
        ]
    first = problems[0]
    return SpecError(first.field, first.message, title=first.title, errors=problems)


def field_error(model: type[BaseModel], field: str, message: str) -> SpecError:
    """A :class:`SpecError` for a rule checked outside the model, titled from ``model``."""
    path = [int(p) if p.isdigit() else p for p in field.split(".")]
    return SpecError(field, message, title=title_of(model, path))


def validate_model(model: type[M], data: Any, *, prefix: Loc = ()) -> M:
    """``model.model_validate(data)``, raising :class:`SpecError` instead of ValidationError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise spec_error(exc, model, prefix=prefix) from None


def form_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema (draft 2020-12) with every ``$ref`` inlined, so that each nested
    model (a spec section) appears in place with its field's title, description and default."""
    raw = model.model_json_schema()
    defs = raw.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return inline({**target, **rest})
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    schema: dict[str, Any] = inline(raw)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
