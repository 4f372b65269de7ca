"""Reports of runs (reports/<run>/), the index of all runs, built from metrics.json only.

Comparisons live in :mod:`experiments.compare`.
"""

from experiments.report.index import build_index
from experiments.report.render import build_report, render_report, write_run_metrics

__all__ = ["build_index", "build_report", "render_report", "write_run_metrics"]
