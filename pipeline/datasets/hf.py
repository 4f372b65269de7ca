r"""The Hugging Face ``yahoo_answers_topics`` layout: columns ``id, topic, question_title,
question_content, best_answer`` with ``topic`` 0-9 (or the topic's name), as CSV with a header,
JSON lines, or parquet (only when pyarrow is installed; it is not a dependency). The HF builder
copied the original CSV's fields verbatim, so the text carries the same ``\n`` escapes."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pipeline.datasets._io import base_suffix, dataset_name, open_text, raise_csv_field_limit
from pipeline.datasets.model import TOPICS, DatasetError, Question, unescape_newlines

__all__ = ["HF_COLUMNS", "iter_hf"]

log = logging.getLogger(__name__)

HF_COLUMNS = ("id", "topic", "question_title", "question_content", "best_answer")
_REQUIRED = HF_COLUMNS[1:]
_TOPIC_BY_NAME = {name.lower(): i for i, name in enumerate(TOPICS)}


def iter_hf(
    path: str | Path,
    *,
    source: str | None = None,
    unescape: bool = True,
    skip_invalid: bool = False,
) -> Iterator[Question]:
    """Stream a yahoo_answers_topics export: ``.csv``, ``.jsonl``/``.json`` (one object per line)
    or ``.parquet`` (``.gz`` for the text ones). ``id`` is optional; when present it becomes
    ``Question.row``. Errors name the file and row, as in the 4-column reader."""
    name = source if source is not None else dataset_name(path)
    suffix = base_suffix(path)
    if suffix == ".csv":
        records = _csv_records(path)
    elif suffix in {".jsonl", ".json"}:
        records = _jsonl_records(path)
    elif suffix == ".parquet":
        records = _parquet_records(path)
    else:
        raise DatasetError(
            f"{path}: unknown Hugging Face file type {suffix!r} (csv, jsonl, parquet)"
        )
    skipped = 0
    for index, (where, record) in enumerate(records):
        try:
            yield _question(record, name, index, unescape)
        except DatasetError as exc:
            if not skip_invalid:
                raise DatasetError(f"{path}:{where}: {exc}") from None
            skipped += 1
    if skipped:
        log.warning("%s: skipped %d malformed row(s)", path, skipped)


def _csv_records(path: str | Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    raise_csv_field_limit()
    with open_text(path) as f:
        reader = csv.DictReader(f)
        missing = [c for c in _REQUIRED if c not in (reader.fieldnames or ())]
        if missing:
            raise DatasetError(
                f"{path}: missing column(s) {missing}; header is {reader.fieldnames}"
            )
        for record in reader:
            yield reader.line_num, record


def _jsonl_records(path: str | Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    with open_text(path) as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise DatasetError(f"{path}:{line_no}: invalid JSON: {exc}") from None
            if not isinstance(record, dict):
                raise DatasetError(f"{path}:{line_no}: expected a JSON object per line")
            yield line_no, record


def _parquet_records(path: str | Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    try:
        import pyarrow.parquet as pq  # optional: only for parquet exports
    except ImportError:
        raise DatasetError(
            f"{path}: reading parquet needs pyarrow, which is not installed"
        ) from None
    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=8192):
        for record in batch.to_pylist():
            row += 1
            yield row, record


def _question(record: Mapping[str, Any], source: str, index: int, unescape: bool) -> Question:
    missing = [c for c in _REQUIRED if c not in record]
    if missing:
        raise DatasetError(f"missing field(s) {missing}")
    topic_id = _topic_id(record["topic"])
    title, content, answer = (_text(record[c]) for c in _REQUIRED[1:])
    if unescape:
        title, content, answer = (
            unescape_newlines(title),
            unescape_newlines(content),
            unescape_newlines(answer),
        )
    row = record.get("id")
    try:
        row = int(row) if row not in (None, "") else index
    except (TypeError, ValueError):
        raise DatasetError(f"id must be an integer, got {row!r}") from None
    return Question.create(topic_id, title, content, answer, source=source, row=row)


def _topic_id(value: Any) -> int:
    if isinstance(value, str) and value.strip().lower() in _TOPIC_BY_NAME:
        return _TOPIC_BY_NAME[value.strip().lower()]
    try:
        topic_id = int(value)
    except (TypeError, ValueError):
        raise DatasetError(
            f"topic must be 0-{len(TOPICS) - 1} or a topic name, got {value!r}"
        ) from None
    if not 0 <= topic_id < len(TOPICS) or isinstance(value, bool):
        raise DatasetError(f"topic must be 0-{len(TOPICS) - 1}, got {value!r}")
    return topic_id


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DatasetError(f"expected text, got {type(value).__name__}")
    return value
