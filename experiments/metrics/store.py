"""metrics.json and questions.csv on disk: written by the metrics, read by the reports."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from experiments.metrics.compute import SCHEMA_VERSION

METRICS_FILE = "metrics.json"
QUESTIONS_FILE = "questions.csv"


class MetricsSchemaError(ValueError):
    """metrics.json is missing, or of a schema major version this code does not read."""


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


def write_metrics(metrics: Mapping[str, Any], run_dir: Path | str) -> Path:
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / METRICS_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_clean(metrics), indent=1, allow_nan=False), encoding="utf-8")
    tmp.replace(path)
    return path


def read_metrics(run_dir: Path | str) -> dict[str, Any]:
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        raise MetricsSchemaError(f"{path} does not exist")
    data = json.loads(path.read_text(encoding="utf-8"))
    version = str(data.get("schema_version", ""))
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise MetricsSchemaError(
            f"{path}: schema_version {version!r}, this code reads {SCHEMA_VERSION.split('.')[0]}.x"
        )
    return data


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
