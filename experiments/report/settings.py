"""Report settings (environment prefix ``HARNESS_REPORT_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

_REPO_ROOT = Path(__file__).resolve().parents[2]


class ReportSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HARNESS_REPORT_", extra="ignore")

    #: where reports/<run>/, reports/compare/<name>/ and reports/index.html live
    reports_root: Path = _REPO_ROOT / "reports"
    #: seed of the bootstrap confidence intervals (repeats and comparisons)
    bootstrap_seed: int = 0
