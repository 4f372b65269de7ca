"""metrics.json and questions.csv on disk: written by the metrics, read by the reports."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from experiments.metrics.schema import RunMetrics
from experiments.metrics.versions import MetricsSchemaError, parse_metrics

METRICS_FILE = "metrics.json"
QUESTIONS_FILE = "questions.csv"


__all__ = [
    "METRICS_FILE",
    "QUESTIONS_FILE",
    "MetricsSchemaError",
    "read_metrics",
    "read_questions",
    "write_metrics",
    "write_questions",
]


def _clean(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_metrics(metrics: RunMetrics, run_dir: Path | str) -> Path:
    """Write ``run_dir/metrics.json`` atomically (strict JSON: NaN and infinities become null)."""
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / METRICS_FILE
    tmp = path.with_suffix(".json.tmp")
    data = _clean(metrics.model_dump(mode="python"))
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False), encoding="utf-8")
    tmp.replace(path)
    return path


def read_metrics(run_dir: Path | str) -> RunMetrics:
    """``run_dir/metrics.json`` as :class:`RunMetrics`, upgraded from an older version if needed.

    Raises :class:`MetricsSchemaError`, naming the file (and its version), when the file is
    missing, not JSON, of a version this code does not read, or does not match the model.
    """
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        raise MetricsSchemaError(f"{path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MetricsSchemaError(f"{path}: not valid JSON ({exc})") from exc
    return parse_metrics(data, str(path))


def write_questions(rows: Iterable[Mapping[str, object]], run_dir: Path | str) -> Path:
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / QUESTIONS_FILE
    rows = list(rows)
    fields = list(rows[0].keys()) if rows else ["question_id"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return path


def _parse(value: str) -> object:
    if value == "":
        return None
    if value in ("True", "False"):
        return value == "True"
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def read_questions(run_dir: Path | str) -> list[dict[str, object]]:
    """The per-question table, values typed back (numbers, booleans, None for empty); [] if absent."""
    path = Path(run_dir) / QUESTIONS_FILE
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return [
            {
                k: (v if k in ("question_id", "dlq_reason", "error_classes") else _parse(v))
                for k, v in row.items()
            }
            for row in csv.DictReader(fh)
        ]
