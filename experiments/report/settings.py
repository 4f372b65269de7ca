"""Report settings (environment prefix ``HARNESS_REPORT_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from foundation.repo import REPO_ROOT


class ReportSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HARNESS_REPORT_", extra="ignore")

    #: where reports/<run>/, reports/compare/<name>/ and reports/index.html live
    reports_root: Path = REPO_ROOT / "reports"
    #: seed of the bootstrap confidence intervals (repeats and comparisons)
    bootstrap_seed: int = 0
