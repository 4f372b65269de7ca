"""Arrival processes: rates, shapes, determinism, schemas and errors; question selection."""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path

import jsonschema
import pytest

from pipeline.arrivals import (
    ARRIVALS,
    ArrivalProcess,
    ArrivalSpecError,
    QuestionSelector,
    arrival_json_schema,
    arrival_schemas,
    build_arrival,
)


def offsets(spec: dict, **bounds) -> list[float]:
    return list(build_arrival(spec).offsets(**bounds))


def gap_cv(times: list[float]) -> float:
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return statistics.pstdev(gaps) / statistics.fmean(gaps)


def test_constant_is_evenly_spaced_from_zero() -> None:
    times = offsets({"kind": "constant", "rate": 20}, duration_s=10)
    assert len(times) == 200
    assert times[:3] == [0.0, 0.05, 0.1] and times[-1] == pytest.approx(9.95)
    assert offsets({"kind": "constant", "rate": 20}, count=3) == [0.0, 0.05, 0.1]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_poisson_rate_and_exponential_gaps(seed: int) -> None:
    times = offsets({"kind": "poisson", "rate": 50, "seed": seed}, duration_s=200)
    assert len(times) == pytest.approx(10_000, rel=0.04)
    assert gap_cv(times) == pytest.approx(1.0, abs=0.05)
    assert all(0 <= a <= b < 200 for a, b in itertools.pairwise(times))


@pytest.mark.parametrize("cv", [0.5, 3.0])
def test_gamma_keeps_the_mean_rate_and_sets_burstiness(cv: float) -> None:
    times = offsets({"kind": "gamma", "rate": 50, "cv": cv, "seed": 11}, duration_s=400)
    assert len(times) == pytest.approx(20_000, rel=0.08)
    assert gap_cv(times) == pytest.approx(cv, rel=0.15)


@pytest.mark.parametrize("spacing", ["poisson", "uniform"])
def test_onoff_sends_only_while_on(spacing: str) -> None:
    spec = {"kind": "onoff", "rate": 100, "on_s": 2, "off_s": 3, "spacing": spacing, "seed": 5}
    times = offsets(spec, duration_s=100)
    assert all((t % 5.0) < 2.0 for t in times)
    assert len(times) == pytest.approx(4000, rel=0.05)
    assert build_arrival(spec).expected_count(100) == pytest.approx(4000)
    assert build_arrival(spec).mean_rate(100) == pytest.approx(40)


def test_ramp_rate_grows_linearly_then_holds() -> None:
    spec = {"kind": "ramp", "rate_from": 0, "rate_to": 100, "ramp_s": 100, "seed": 2}
    times = offsets(spec, duration_s=150)
    first_half = sum(t < 50 for t in times)
    second_half = sum(50 <= t < 100 for t in times)
    hold = sum(t >= 100 for t in times)
    # integral of the ramp: 1250 in [0,50), 3750 in [50,100); then 100/s for 50 s
    assert first_half == pytest.approx(1250, rel=0.1)
    assert second_half == pytest.approx(3750, rel=0.06)
    assert hold == pytest.approx(5000, rel=0.05)
    assert build_arrival(spec).expected_count(150) == pytest.approx(10_000)
    down = offsets(
        {"kind": "ramp", "rate_from": 100, "rate_to": 0, "ramp_s": 10, "spacing": "uniform"},
        duration_s=60,
    )
    assert len(down) == 500 and down[-1] < 10


def test_step_rates_per_window() -> None:
    spec = {"kind": "step", "steps": [[5, 10], [20, 200], [30, 0]], "spacing": "uniform"}
    times = offsets(spec, duration_s=60)
    assert times[0] == 5.0
    assert sum(5 <= t < 20 for t in times) == 150
    assert sum(20 <= t < 30 for t in times) == 2000
    assert not any(t >= 30 for t in times)
    assert len(list(build_arrival(spec).offsets())) == 2150  # rate 0 at the end: the stream ends


def test_trace_replay_from_list_and_files(tmp_path: Path) -> None:
    assert offsets({"kind": "trace", "offsets": [2.0, 0.5, 1.0]}) == [0.5, 1.0, 2.0]
    assert offsets({"kind": "trace", "offsets": [2.0, 0.5, 1.0], "speed": 2}) == [0.25, 0.5, 1.0]
    assert offsets({"kind": "trace", "offsets": [100.5, 101, 103], "rebase": True}) == [0, 0.5, 2.5]
    looped = offsets({"kind": "trace", "offsets": [0, 1], "loop": True}, duration_s=6)
    assert looped == [0, 1, 2, 3, 4, 5]
    text = tmp_path / "trace.csv"
    text.write_text("offset_s,size\n# warm-up\n0.0,1\n\n0.25,1\n0.75,3\n")
    assert offsets({"kind": "trace", "path": str(text)}) == [0.0, 0.25, 0.75]
    as_json = tmp_path / "trace.json"
    as_json.write_text("[0, 0.5, 1.5]")
    process = build_arrival({"kind": "trace", "path": str(as_json)})
    assert list(process.offsets(duration_s=1)) == [0, 0.5]
    assert process.expected_count(10) == 3


def test_same_seed_same_schedule_other_seed_other_schedule() -> None:
    for kind, params in [
        ("poisson", {"rate": 30}),
        ("gamma", {"rate": 30, "cv": 2}),
        ("onoff", {"rate": 30, "on_s": 1, "off_s": 1}),
        ("ramp", {"rate_from": 1, "rate_to": 30, "ramp_s": 5}),
        ("step", {"steps": [[0, 5], [2, 30]]}),
    ]:
        spec = {"kind": kind, **params}
        a = build_arrival({**spec, "seed": 1})
        first = list(a.offsets(count=200))
        assert first == list(a.offsets(count=200)), kind  # every call restarts from the seed
        assert first == list(build_arrival({**spec, "seed": 1}).offsets(count=200)), kind
        assert first != list(build_arrival({**spec, "seed": 2}).offsets(count=200)), kind
        assert list(a.offsets(count=50)) == first[:50]


def test_seed_argument_fills_a_missing_seed_only() -> None:
    base = {"kind": "poisson", "rate": 10}
    assert build_arrival(base, seed=9).seed == 9
    assert build_arrival({**base, "seed": 4}, seed=9).seed == 4
    assert build_arrival(base).seed == 0


def test_bounds() -> None:
    process = build_arrival({"kind": "poisson", "rate": 1000})
    assert list(process.offsets(count=0)) == []
    assert list(process.offsets(duration_s=0)) == []
    assert len(list(process.offsets(duration_s=1, count=5))) == 5
    assert len(list(itertools.islice(process.offsets(), 3000))) == 3000  # unbounded stream
    with pytest.raises(ValueError, match="duration_s"):
        process.offsets(duration_s=-1)


@pytest.mark.parametrize(
    ("spec", "field", "fragment"),
    [
        ({"kind": "poisson", "rate": 0}, "rate", "must be > 0"),
        ({"kind": "poisson"}, "rate", "required"),
        ({"kind": "poisson", "rate": 1e9}, "rate", "must be <= 100000"),
        ({"kind": "poisson", "rate": "fast"}, "rate", "must be a number"),
        ({"kind": "poisson", "rate": 1, "seed": -1}, "seed", "must be >= 0"),
        ({"kind": "poisson", "rate": 1, "burst": 2}, "burst", "not a field"),
        ({"kind": "gamma", "rate": 1, "cv": 0}, "cv", "must be >= 0.1"),
        ({"kind": "onoff", "rate": 1, "on_s": 1, "off_s": -1}, "off_s", "must be > 0"),
        (
            {"kind": "onoff", "rate": 1, "on_s": 1, "off_s": 1, "spacing": "wavy"},
            "spacing",
            "poisson",
        ),
        ({"kind": "ramp", "rate_from": 0, "rate_to": 0, "ramp_s": 5}, "rate_to", "both be 0"),
        ({"kind": "step", "steps": []}, "steps", "at least 1"),
        ({"kind": "step", "steps": [[0, 1], [0, 2]]}, "steps.1", "must increase"),
        ({"kind": "step", "steps": [[0, 1], [1, -2]]}, "steps.1.1", "must be >= 0"),
        ({"kind": "trace"}, "path", "exactly one"),
        ({"kind": "trace", "offsets": []}, "offsets", "empty"),
        ({"kind": "trace", "offsets": [1, -1]}, "offsets.1", "must be >= 0"),
        ({"kind": "trace", "path": "/no/such/trace.txt"}, "path", "cannot read"),
        ({"kind": "warp", "rate": 1}, "kind", "unknown arrival kind"),
        ({"rate": 1}, "kind", "required"),
    ],
)
def test_validation_errors_name_the_field(spec: dict, field: str, fragment: str) -> None:
    with pytest.raises(ArrivalSpecError) as info:
        build_arrival(spec)
    assert info.value.field == field
    assert fragment in info.value.message
    # named by title (when the model gives one) and path: "Rate (requests/s) (rate): must be > 0"
    named = f"{info.value.title} ({field})" if info.value.title else field
    assert str(info.value) == f"{named}: {info.value.message}"


def test_errors_carry_the_field_title() -> None:
    with pytest.raises(ArrivalSpecError) as info:
        build_arrival({"kind": "onoff", "rate": 1, "on_s": 1, "off_s": 0})
    assert (info.value.field, info.value.title) == ("off_s", "Off period (s)")
    assert str(info.value) == "Off period (s) (off_s): must be > 0, got 0"
    with pytest.raises(ArrivalSpecError, match=r"^Burstiness \(CV\) \(cv\): must be <= 10"):
        build_arrival({"kind": "gamma", "rate": 1, "cv": 50})
    assert build_arrival({"kind": "poisson", "rate": 50_000}).rate == 50_000


def test_bad_trace_file_line_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("0\n1\nlater\n")
    with pytest.raises(ArrivalSpecError, match="line 3"):
        build_arrival({"kind": "trace", "path": str(path)})


def test_not_a_mapping() -> None:
    with pytest.raises(ArrivalSpecError) as info:
        build_arrival(["poisson"])  # type: ignore[arg-type]
    assert info.value.field == "$"


def test_schemas_for_the_form() -> None:
    schemas = arrival_schemas()
    assert (
        set(schemas)
        == {"constant", "poisson", "gamma", "onoff", "ramp", "step", "trace"}
        == set(ARRIVALS)
    )
    rate = schemas["poisson"]["properties"]["rate"]
    assert rate["exclusiveMinimum"] == 0 and rate["maximum"] == 100_000 and rate["title"]
    cv = schemas["gamma"]["properties"]["cv"]
    assert cv["minimum"] == 0.1 and cv["maximum"] == 10 and "Poisson" in cv["description"]
    assert "offsets" in schemas["trace"]["properties"]
    assert all(s.get("title") and s.get("description") for s in schemas.values())

    union = arrival_json_schema()
    assert union["discriminator"]["propertyName"] == "kind"
    validator = jsonschema.Draft202012Validator(union)
    validator.validate({"kind": "gamma", "rate": 20, "cv": 3})
    validator.validate({"kind": "step", "steps": [[0, 1], [10, 5]]})
    assert not validator.is_valid({"kind": "gamma", "rate": -1})
    assert not validator.is_valid({"kind": "poisson", "rate": 1, "extra": 1})
    json.dumps(union)


def test_processes_are_registered_models() -> None:
    for kind, cls in ARRIVALS.items():
        assert issubclass(cls, ArrivalProcess)
        assert cls.model_fields["kind"].default == kind


def test_question_selector_repeat_share_and_determinism() -> None:
    picks = list(itertools.islice(QuestionSelector(100_000, repeat_share=0.3, seed=4), 20_000))
    repeats = [p for p in picks if p.repeat]
    assert len(repeats) / len(picks) == pytest.approx(0.3, abs=0.02)
    seen: set[int] = set()
    for p in picks:
        assert (p.index in seen) == p.repeat  # a repeat is always a question sent before
        seen.add(p.index)
    fresh = [p.index for p in picks if not p.repeat]
    assert len(set(fresh)) == len(fresh)
    assert fresh[:20] != sorted(fresh[:20])  # a shuffled order, not the file order
    again = list(itertools.islice(QuestionSelector(100_000, repeat_share=0.3, seed=4), 20_000))
    assert again == picks
    other = list(itertools.islice(QuestionSelector(100_000, repeat_share=0.3, seed=5), 100))
    assert other != picks[:100]


def test_question_selector_edges() -> None:
    no_repeats = list(itertools.islice(QuestionSelector(10, 0.0, seed=1), 10))
    assert sorted(p.index for p in no_repeats) == list(range(10)) and not any(
        p.repeat for p in no_repeats
    )
    selector = QuestionSelector(3, 0.0, seed=1)
    picks = [next(selector) for _ in range(6)]
    assert [p.repeat for p in picks] == [False] * 3 + [True] * 3  # pool exhausted: repeats only
    assert selector.fresh_sent == 3
    all_repeats = list(itertools.islice(QuestionSelector(50, 1.0, seed=1), 10))
    assert not all_repeats[0].repeat and all(p.repeat for p in all_repeats[1:])
    assert {p.index for p in all_repeats} == {all_repeats[0].index}
    with pytest.raises(ValueError, match="repeat_share"):
        QuestionSelector(10, 1.5)
    with pytest.raises(ValueError, match="pool_size"):
        QuestionSelector(0)
