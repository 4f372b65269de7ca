"""The policy spec: its JSON schema (drives the Airflow form), validation and the builder."""

from __future__ import annotations

import jsonschema
import pytest

from pipeline.retry import (
    ErrorClass,
    PolicySpecError,
    RetryState,
    WaitDecorrelatedJitter,
    WaitEqualJitter,
    WaitExponential,
    WaitFixed,
    WaitFullJitter,
    WaitNone,
    build_policy,
    default_spec,
    policy_schema,
    validate_spec,
)

ISSUE_EXAMPLE = {
    "kind": "exponential_jitter",
    "jitter": "full",
    "base_s": 0.1,
    "multiplier": 2,
    "cap_s": 10,
    "max_attempts": 5,
    "max_elapsed_s": 60,
    "retry_after": "obey",
}


def test_schema_is_valid_and_every_property_is_form_ready() -> None:
    schema = policy_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    for name, prop in schema["properties"].items():
        for key in ("title", "description", "type", "default"):
            assert key in prop, f"{name} lacks {key}"
        if prop["type"] in ("number", "integer"):
            assert "minimum" in prop and "maximum" in prop, name
        if prop["type"] == "string":
            assert prop["default"] in prop["enum"], name
        if prop["type"] == "array":
            assert "enum" in prop["items"], name
    # The defaults form a valid spec on their own.
    jsonschema.validate(default_spec(), schema)


def test_schema_is_a_fresh_copy() -> None:
    policy_schema()["properties"]["base_s"]["default"] = 99
    assert policy_schema()["properties"]["base_s"]["default"] == 0.1


def test_issue_example_builds_and_fills_defaults() -> None:
    policy = build_policy(ISSUE_EXAMPLE, rng=1)
    assert policy.spec is not None
    assert policy.spec["base_s"] == 0.1 and policy.spec["budget_ratio"] == 0.0
    assert policy.budget is None and policy.breaker is None and policy.limiter is None
    assert isinstance(policy.wait.inner, WaitFullJitter)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"base_s": -1}, "base_s"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 2.5}, "max_attempts"),
        ({"jitter": "wild"}, "jitter"),
        ({"kind": "linear"}, "kind"),
        ({"retry_after": "sometimes"}, "retry_after"),
        ({"retry_on": ["overload", "gremlins"]}, "retry_on.1"),
        ({"retry_on": ["overload", "overload"]}, "retry_on"),
        ({"budget_ratio": 1.5}, "budget_ratio"),
        ({"multiplier": "2"}, "multiplier"),
        ({"bogus_field": 1}, "bogus_field"),
        ({"jitter": "decorrelated", "base_s": 0}, "base_s"),
        ({"concurrency": "aimd", "concurrency_min": 20, "concurrency_limit": 10}, "concurrency_limit"),
    ],
)
def test_invalid_specs_name_the_field(spec: dict, field: str) -> None:
    with pytest.raises(PolicySpecError) as info:
        validate_spec(spec)
    assert info.value.field == field
    if field == "bogus_field":
        assert str(info.value).startswith("bogus_field: ")
    else:  # named by title and path: "Base delay (s) (base_s): must be >= 0, got -1"
        title = policy_schema()["properties"][field.split(".")[0]]["title"]
        assert info.value.title == title
        assert str(info.value).startswith(f"{title} ({field}): ")


def test_the_one_spec_error() -> None:
    from pipeline.spec_model import SpecError

    assert PolicySpecError is SpecError and issubclass(SpecError, ValueError)
    with pytest.raises(SpecError, match=r"^Base delay \(s\) \(base_s\): must be >= 0, got -1$"):
        validate_spec({"base_s": -1})


def test_an_integral_float_is_an_integer() -> None:
    """JSON schema (so the Airflow form) calls 3.0 an integer; so does the model."""
    assert type(validate_spec({"max_attempts": 3.0})["max_attempts"]) is int


def test_validated_spec_is_plain_json() -> None:
    import json

    full = validate_spec({"cap_s": 5, "retry_on": ["overload"]})
    assert json.loads(json.dumps(full)) == full == {**default_spec(), "cap_s": 5.0,
                                                    "retry_on": ["overload"]}


def test_non_mapping_spec_is_rejected() -> None:
    with pytest.raises(PolicySpecError, match="expected an object"):
        validate_spec(["kind", "fixed"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "wait_type"),
    [
        ({"kind": "none"}, WaitNone),
        ({"kind": "fixed"}, WaitFixed),
        ({"kind": "exponential", "jitter": "full"}, WaitExponential),  # jitter ignored for this kind
        ({"kind": "exponential_jitter", "jitter": "none"}, WaitExponential),
        ({"kind": "exponential_jitter", "jitter": "full"}, WaitFullJitter),
        ({"kind": "exponential_jitter", "jitter": "equal"}, WaitEqualJitter),
        ({"kind": "exponential_jitter", "jitter": "decorrelated"}, WaitDecorrelatedJitter),
    ],
)
def test_kinds_build_their_wait(spec: dict, wait_type: type) -> None:
    assert type(build_policy(spec).wait.inner) is wait_type  # type: ignore[attr-defined]


def _failure_state(n: int, error_class: ErrorClass = ErrorClass.OVERLOAD, now: float = 0.0) -> RetryState:
    return RetryState(n, 0.0, now, error_class, failures_by_class={str(error_class): n})


def test_kind_none_never_retries() -> None:
    decision = build_policy({"kind": "none"}).schedule(_failure_state(1))
    assert not decision.retry and "max_attempts (1)" in decision.reason


def test_fixed_kind_delay_is_base_bounded_by_cap() -> None:
    policy = build_policy({"kind": "fixed", "base_s": 3.0, "cap_s": 2.0, "max_attempts": 10})
    assert policy.schedule(_failure_state(4)).delay_s == 2.0


def test_guards_are_built_from_the_spec() -> None:
    policy = build_policy(
        {
            "budget_ratio": 0.2,
            "throttle_max_tokens": 10,
            "breaker_failure_threshold": 3,
            "concurrency": "aimd",
            "concurrency_limit": 8,
            "rate_limit_per_s": 5,
        }
    )
    assert policy.budget is not None and policy.budget.ratio == 0.2
    assert policy.throttle is not None and policy.throttle.max_tokens == 10
    assert policy.breaker is not None and policy.breaker.failure_threshold == 3
    assert policy.limiter is not None and policy.limiter.limit == 8
    assert policy.rate_limiter is not None and policy.rate_limiter.refill_per_s == 5
