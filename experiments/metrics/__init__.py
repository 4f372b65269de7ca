"""Metrics of one run, computed from a storage-independent :class:`RunData`.

Flow: a collector builds ``RunData`` -> :func:`compute` -> :class:`RunMetrics` -> :func:`write_metrics` (+ :func:`question_rows`
-> :func:`write_questions`) -> the report renderer reads those files only.
"""

from experiments.metrics.compute import compute, question_rows
from experiments.metrics.headline import HEADLINES, Headline, headline
from experiments.metrics.histogram import LatencyHistogram
from experiments.metrics.model import (
    HOPS,
    LlmAttempt,
    QuestionOutcome,
    RunData,
    RunMeta,
    RunOutcome,
    WindowEvent,
)
from experiments.metrics.redact import redact
from experiments.metrics.repeats import aggregate_repeats, bootstrap_mean_ci, repeats_of
from experiments.metrics.schema import SCHEMA_VERSION, Outcome, RunMetrics
from experiments.metrics.steady import SteadyWindow, steady_window
from experiments.metrics.store import (
    MetricsSchemaError,
    read_metrics,
    read_questions,
    write_metrics,
    write_questions,
)

__all__ = [
    "HEADLINES",
    "HOPS",
    "SCHEMA_VERSION",
    "Headline",
    "LatencyHistogram",
    "LlmAttempt",
    "MetricsSchemaError",
    "Outcome",
    "QuestionOutcome",
    "RunData",
    "RunMeta",
    "RunMetrics",
    "RunOutcome",
    "SteadyWindow",
    "WindowEvent",
    "aggregate_repeats",
    "bootstrap_mean_ci",
    "compute",
    "headline",
    "question_rows",
    "read_metrics",
    "read_questions",
    "redact",
    "repeats_of",
    "steady_window",
    "write_metrics",
    "write_questions",
]
