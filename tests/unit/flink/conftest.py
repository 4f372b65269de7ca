"""Builders shared by the scoring job's unit tests."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.messages import Envelope

T0 = 1_718_000_000.0


def make_envelope(
    *, answer: str | None = "Rayleigh scattering of sunlight.", **over: Any
) -> Envelope:
    fields: dict[str, Any] = dict(
        experiment_id="exp-1",
        question_id="q-1",
        send_seq=3,
        question={"title": "Why is the sky blue?"},
        reference_answer="Sunlight is scattered by air molecules: Rayleigh scattering.",
        intended_at=T0,
        created_at=T0 + 0.5,
        hops=[{"name": "worker.answered", "at": T0 + 2, "round": 0}],
        attempts=[
            {"round": 0, "number": 1, "status": "ok", "started_at": T0 + 1, "ended_at": T0 + 2}
        ],
        attempt=1,
    )
    if answer is not None:
        fields["answer"] = {"text": answer, "model": "sim"}
    fields.update(over)
    return Envelope.model_validate(fields)


@pytest.fixture
def make_env():
    """Factory: ``make_env(answer=..., **envelope fields)`` -> a valid answered Envelope."""
    return make_envelope
