"""Table hygiene: counts, plurals, interval-aware colouring of differences, normalised spec
differences, and the "What was tested" table a run report opens with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from experiments.compare import diff_css, normalise, spec_differences
from experiments.metrics.compute import compute
from experiments.metrics.headline import BY_KEY, format_unit, format_value
from experiments.metrics.synthetic import SyntheticProfile, make_run
from experiments.report.fmt import count, counter, number, plural, was
from experiments.report.tested import arrival_text, llm_rows, retry_rows, setting_rows

pytestmark = pytest.mark.unit

TINY = SyntheticProfile(duration_s=12.0, warmup_s=2.0, rate=3.0)

#: an experiment spec's sections as experiments/spec.py dumps them (defaults, trimmed)
RETRY = {
    "kind": "exponential_jitter",
    "jitter": "equal",
    "base_s": 0.5,
    "multiplier": 2.0,
    "cap_s": 20.0,
    "max_attempts": 6,
    "max_elapsed_s": 60.0,
    "retry_after": "obey",
    "retry_on": ["overload", "rate_limited", "bad_completion"],
    "bad_completion_retries": 1,
    "budget_ratio": 0.2,
    "budget_min_retries_per_s": 10.0,
    "budget_ttl_s": 10.0,
    "rate_limit_per_s": 5.0,
    "rate_limit_burst": 10,
    "concurrency": "unlimited",
    "max_deferrals": 5,
}


def test_counts_and_numbers() -> None:
    assert count(15580) == "15,580"
    assert count(15580.0) == "15,580"
    assert count(None) == "n/a"
    assert number(15580) == "15,580"
    assert number(0.5) == "0.50"
    assert number(1234.5, 1) == "1,234.5"
    assert counter(15580.0) == "15,580"
    assert counter(2.5) == "2.50"
    assert format_value("in_flight", 15580.0) == "15,580"  # a count headline: the same rule
    assert format_unit("count", 1234567) == "1,234,567" and format_unit("count", 2.4) == "2"
    assert format_value("amplification", 1.5) == "1.50x"  # other units unchanged
    assert format_value("in_flight", None) == "n/a"


def test_plurals() -> None:
    assert plural(0, "question") == "0 questions"
    assert plural(1, "question") == "1 question"
    assert plural(2, "question") == "2 questions"
    assert plural(15580, "question") == "15,580 questions"
    assert plural(1, "retry", "retries") == "1 retry"
    assert plural(3, "retry", "retries") == "3 retries"
    assert (was(1), was(0), was(2)) == ("was", "were", "were")


def test_a_difference_is_coloured_only_beyond_its_interval() -> None:
    p99 = BY_KEY["e2e_p99_s"]  # lower is better
    lower = {"abs": -0.47, "rel": -0.47}
    assert diff_css(p99, {**lower, "exceeds_ci": True}) == "better"
    assert diff_css(p99, {"abs": 0.3, "rel": 0.3, "exceeds_ci": True}) == "worse"
    assert diff_css(p99, {**lower, "exceeds_ci": False}) == ""  # within the CI
    assert diff_css(p99, {**lower, "exceeds_ci": None}) == ""  # single runs: no interval
    assert diff_css(BY_KEY["offered_qps"], {**lower, "exceeds_ci": True}) == ""  # no direction


def test_spec_differences_compare_normalised_values() -> None:
    assert normalise(45) == normalise(45.0)
    assert normalise(None) == normalise([]) == normalise({}) is None
    same = spec_differences(
        [
            {"arrival": {"duration_s": 45}, "faults": None, "retry": {"retry_on": ["overload"]}},
            {"arrival": {"duration_s": 45.0}, "faults": [], "retry": {"retry_on": ["overload"]}},
        ]
    )
    assert same == {}
    missing = spec_differences([{"llm": {"profile_overrides": {}}}, {"llm": {}}])
    assert missing == {}
    diffs = spec_differences([{"retry": {"jitter": "full"}}, {"retry": {"jitter": "equal"}}])
    assert diffs == {"retry.jitter": ["full", "equal"]}
    assert spec_differences([{"a": True}, {"a": 1}]) == {"a": [True, 1]}  # a flag is not a number


def test_retry_rows_name_every_parameter() -> None:
    rows = dict((k, v) for k, v in retry_rows({"retry": RETRY}))
    assert rows["retry policy"] == "exponential_jitter, equal jitter"
    assert rows["backoff"] == "base 500.0 ms, x2 per attempt, capped at 20.00 s"
    assert rows["attempts"].startswith("at most 6 in total")
    assert "5 deferrals" in rows["attempts"]
    assert rows["retried error classes"].startswith("overload, rate_limited, bad_completion")
    assert rows["Retry-After"].startswith("obeyed")
    assert rows["retry budget"].startswith("20% of requests")
    assert rows["client rate limit"] == "5 requests/s, burst 10"
    assert "concurrency limit" not in rows  # unlimited: nothing to say


def test_llm_rows_print_profile_overrides_when_the_spec_has_them() -> None:
    llm = {"backend": "simulator", "profile": "rate_limited", "model": "sim-gpt"}
    assert llm_rows({"llm": llm}) == [["LLM", "simulator, profile rate_limited, model sim-gpt"]]
    rows = llm_rows({"llm": {**llm, "profile_overrides": {"p_429": 0.2}}})
    assert rows[1] == ["profile overrides", '{"p_429": 0.2}']
    assert llm_rows({"llm": {**llm, "profile_overrides": None}})[1] == ["profile overrides", "none"]


def test_arrival_text() -> None:
    assert arrival_text({"kind": "poisson", "rate": 4.0, "duration_s": 45.0}) == (
        "poisson at 4/s for 45.00 s"
    )
    assert arrival_text({"kind": "gamma", "rate": 2, "duration_s": 60, "cv": 3.0}) == (
        "gamma at 2/s for 60.00 s, cv 3"
    )


def test_tested_rows_of_a_full_spec() -> None:
    m = compute(make_run(3, profile=TINY, run_name="t"))
    m.spec = {
        "retry": RETRY,
        "llm": {"backend": "simulator", "profile": "rate_limited"},
        "arrival": {"kind": "constant", "rate": 2.0, "duration_s": 30.0},
        "workers": {"count": 2, "concurrency": 64},
        "scoring": {"threshold": 0.5, "max_rounds": 1},
        "faults": [{"at_s": 10.0, "action": "kill", "target": "storage", "duration_s": 0.0}],
    }
    rows = dict((k, v) for k, v in setting_rows(m))
    assert next(iter(rows)) == "retry policy"
    assert rows["workers"] == "2 x 64 concurrent calls"
    assert rows["faults scheduled"] == "kill storage at 10.00 s"
    assert rows["score threshold / regeneration limit"] == (
        f"{m.run.score_threshold:g} / {plural(m.run.max_rounds or 0, 'round')}"
    )


def test_the_run_report_opens_with_what_was_tested_and_ends_with_versions(tmp_path: Path) -> None:
    from experiments.report import build_report

    build_report(make_run(3, profile=TINY, run_name="t"), tmp_path / "t")
    md = (tmp_path / "t" / "report.md").read_text()
    sections = re.findall(r"^## (.+)$", md, flags=re.M)
    assert sections[0] == "What was tested" and sections[-1] == "Software versions"
    assert "version: " not in md  # no longer rows of the first table
    assert "| retry policy | exponential_full_jitter |" in md
    tiers = md[md.index("**Time in retry tiers**") :].split("\n\n")[1]
    assert "p99" not in tiers  # the in-worker backoff p99 has its own row, under its own header
    assert not re.search(r"\| \d{3,}\.00 \|", md)  # counts are not printed as 15580.00
    assert " 1 questions" not in md and "(s)" not in md
