"""Fault profiles: shipped names, overrides, windows, validation."""

from __future__ import annotations

import pydantic
import pytest

from pipeline.llm.sim import (
    NAMED_PROFILES,
    Profile,
    RequestWindow,
    UnknownProfileError,
    Window,
    resolve_profile,
)

REQUIRED = {"healthy", "flaky", "rate_limited", "quota_window", "brownout", "outage"}


def test_required_profiles_ship_and_validate() -> None:
    assert set(NAMED_PROFILES) >= REQUIRED
    for name in NAMED_PROFILES:
        profile = resolve_profile(name)
        assert profile.name == name and profile.description


def test_named_profiles_mean_what_they_say() -> None:
    assert resolve_profile("healthy").errors == [] and resolve_profile("healthy").latency.median_s > 0
    flaky = resolve_profile("flaky").errors
    assert [(r.status, r.probability, r.window) for r in flaky] == [(503, 0.05, None)]
    assert resolve_profile("rate_limited").rate_limits.requests_per_min > 0
    assert resolve_profile("quota_window").quota_windows
    outage = resolve_profile("outage").errors[0]
    assert outage.probability == 1.0 and outage.window is not None
    instant = resolve_profile("instant")
    assert instant.latency.fixed_s == instant.latency.median_s == 0


def test_overrides_merge_into_the_named_base() -> None:
    profile = resolve_profile({"name": "healthy", "latency": {"median_s": 0}, "seed": 9})
    assert profile.latency.median_s == 0
    assert profile.latency.fixed_s == resolve_profile("healthy").latency.fixed_s  # untouched sibling
    assert profile.seed == 9 and profile.name == "healthy"
    custom = resolve_profile({"name": "mine", "errors": [{"status": 529, "probability": 0.5}]})
    assert custom.name == "mine" and custom.errors[0].status == 529


def test_unknown_name_and_bad_fields_are_rejected() -> None:
    with pytest.raises(UnknownProfileError, match="known"):
        resolve_profile("sunny")
    with pytest.raises(pydantic.ValidationError):
        resolve_profile({"name": "healthy", "errors": [{"status": 418}]})
    with pytest.raises(pydantic.ValidationError):
        resolve_profile({"name": "healthy", "latency": {"median": 1}})  # typo: extra fields forbidden
    with pytest.raises(pydantic.ValidationError):
        Window(start_s=0, duration_s=30, every_s=10)


def test_profile_round_trips_through_json() -> None:
    profile = resolve_profile("brownout")
    assert Profile.model_validate_json(profile.model_dump_json()) == profile


@pytest.mark.parametrize(
    ("window", "active_at", "inactive_at"),
    [
        (Window(), [0, 1e6], []),
        (Window(start_s=10), [10, 500], [0, 9.99]),
        (Window(start_s=10, duration_s=5), [10, 14.99], [9, 15, 100]),
        (Window(start_s=10, duration_s=5, every_s=60), [10, 14, 70, 74.9, 130], [15, 69, 75, 129]),
    ],
)
def test_windows(window: Window, active_at: list[float], inactive_at: list[float]) -> None:
    assert all(window.active(t) for t in active_at)
    assert not any(window.active(t) for t in inactive_at)


def test_quota_out_never_comes_back() -> None:
    window = resolve_profile("quota_out").quota_windows[0]
    assert not window.active(9.9) and window.active(10.0) and window.active(10_000.0)


def test_an_unknown_name_with_no_fields_is_refused_not_a_blank_profile() -> None:
    with pytest.raises(UnknownProfileError, match="quota_ot"):
        resolve_profile({"name": "quota_ot", "seed": 42})
    assert resolve_profile({"name": "mine", "errors": [{"status": 503, "probability": 1}]}).errors


def test_a_window_is_counted_in_seconds_or_in_requests() -> None:
    profile = resolve_profile({
        "name": "instant",
        "quota_windows": [{}, {"start_s": 5}, {"after_requests": 20}],
        "errors": [{"status": 503, "window": {"requests": 3}}],
        "hang": {"probability": 1, "window": {"after_requests": 1, "requests": 1}},
    })
    assert [type(w) for w in profile.quota_windows] == [Window, Window, RequestWindow]
    assert profile.errors[0].window == RequestWindow(requests=3)
    assert profile.hang.window == RequestWindow(after_requests=1, requests=1)
    assert Profile.model_validate_json(profile.model_dump_json()) == profile
    with pytest.raises(pydantic.ValidationError):
        resolve_profile({"name": "instant", "errors": [{"window": {"requests": 0}}]})
    with pytest.raises(pydantic.ValidationError):  # one unit per window
        resolve_profile({"name": "instant", "errors": [{"window": {"start_s": 1, "requests": 2}}]})


@pytest.mark.parametrize(
    ("window", "active_at", "inactive_at"),
    [
        (RequestWindow(), [0, 10**6], []),
        (RequestWindow(requests=3), [0, 2], [3, 100]),
        (RequestWindow(after_requests=20), [20, 10**6], [0, 19]),
        (RequestWindow(after_requests=2, requests=2), [2, 3], [0, 1, 4]),
    ],
)
def test_request_windows(window: RequestWindow, active_at: list[int], inactive_at: list[int]) -> None:
    assert all(window.active(n) for n in active_at)
    assert not any(window.active(n) for n in inactive_at)
