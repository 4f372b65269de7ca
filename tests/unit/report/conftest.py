"""Report fixtures: small synthetic runs rendered once per module into a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.metrics.synthetic import SyntheticProfile, make_run
from experiments.report import build_report

SMALL = SyntheticProfile(duration_s=30.0, warmup_s=5.0, rate=6.0, bursts=((12.0, 18.0),))


@pytest.fixture(scope="session")
def reports_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """reports/ with a single run and two runs of 2 repeats differing only in backoff (built once)."""
    root = tmp_path_factory.mktemp("reports")
    build_report(make_run(1, backoff=0.5, profile=SMALL, run_name="single"), root / "single")
    build_report(
        [make_run(s, backoff=0.1, profile=SMALL, run_name=f"fast-r{s}") for s in range(2)],
        root / "fast",
    )
    build_report(
        [make_run(s + 50, backoff=2.0, profile=SMALL, run_name=f"slow-r{s}") for s in range(2)],
        root / "slow",
    )
    return root
