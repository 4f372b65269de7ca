"""RunData: JSON round trip, shorthand, validation, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from experiments.metrics import QuestionOutcome, RunData, RunMeta, redact
from experiments.metrics.synthetic import make_run


def test_json_round_trip_is_lossless(tmp_path: Path) -> None:
    run = make_run(3)
    path = run.save(tmp_path / "run.json")
    again = RunData.load(path)
    assert again == run
    assert RunData.from_json(run.to_json()) == run


def test_scalar_hop_shorthand_becomes_a_list() -> None:
    q = QuestionOutcome(question_id="q", intended_at=0.0, state="accepted", hops={"scored": 5.0})
    assert q.hops == {"scored": [5.0]}


def test_unknown_state_and_unknown_field_are_rejected() -> None:
    with pytest.raises(ValidationError):
        QuestionOutcome(question_id="q", intended_at=0.0, state="lost")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        RunMeta(run_name="r", experiment_id="e", started_at=0, ended_at=1, colour="red")  # type: ignore[call-arg]


def test_redact_drops_secret_keys_recursively_and_url_credentials() -> None:
    spec = {
        "llm": {"api_key": "sk-1", "base_url": "https://user:pw@example.org/v1", "model": "m"},
        "db": [{"password": "x", "host": "h"}],
        "Secret_Thing": 1,
        "auth_token": "t",
        "PrivateKey": "k",
        "rate": 3,
    }
    out = redact(spec)
    assert out == {
        "llm": {"base_url": "https://example.org/v1", "model": "m"},
        "db": [{"host": "h"}],
        "rate": 3,
    }
    assert spec["llm"]["api_key"] == "sk-1"  # the input is not modified
    counts = {"max_tokens": 128, "profile_overrides": {"rate_limits": {"tokens_per_min": 40_000},
                                                       "latency": {"per_token_s": 0.01}}}
    assert redact(counts) == counts  # token counts are not secrets
    assert redact({"bearerToken": "t", "token": "t"}) == {}
