"""One entry point for every dataset file: format detection, slicing, loading."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pipeline.datasets._io import base_suffix, open_text
from pipeline.datasets.hf import iter_hf
from pipeline.datasets.model import DatasetError, Question
from pipeline.datasets.yahoo_csv import iter_yahoo_csv

__all__ = ["FORMATS", "DatasetFormat", "detect_format", "iter_questions", "load_questions"]

DatasetFormat = Literal["yahoo_csv", "hf"]
FORMATS: tuple[DatasetFormat, ...] = ("yahoo_csv", "hf")


def detect_format(path: str | Path) -> DatasetFormat:
    """'hf' for .jsonl/.json/.parquet and for a CSV whose first line is the HF header,
    else 'yahoo_csv' (the headerless 4-column file)."""
    path = Path(path)
    suffix = base_suffix(path)
    if suffix in {".jsonl", ".json", ".parquet"}:
        return "hf"
    if suffix not in {".csv", ".txt", ""}:
        raise DatasetError(f"{path}: cannot tell the dataset format from {suffix!r}")
    with open_text(path) as f:
        first = f.readline()
    return "hf" if "question_title" in first and "best_answer" in first else "yahoo_csv"


def iter_questions(
    path: str | Path,
    *,
    format: DatasetFormat | Literal["auto"] = "auto",
    offset: int = 0,
    limit: int | None = None,
    skip_invalid: bool = False,
) -> Iterator[Question]:
    """Stream questions from any supported file, skipping ``offset`` rows, at most ``limit``."""
    if offset < 0 or (limit is not None and limit < 0):
        raise ValueError("offset and limit must be >= 0")
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "yahoo_csv":
        rows = iter_yahoo_csv(path, skip_invalid=skip_invalid)
    elif fmt == "hf":
        rows = iter_hf(path, skip_invalid=skip_invalid)
    else:
        raise DatasetError(f"unknown dataset format {fmt!r}; expected one of {FORMATS}")
    stop = None if limit is None else offset + limit
    return itertools.islice(rows, offset, stop)


def load_questions(
    path: str | Path,
    *,
    format: DatasetFormat | Literal["auto"] = "auto",
    offset: int = 0,
    limit: int | None = None,
    skip_invalid: bool = False,
) -> list[Question]:
    """:func:`iter_questions` as a list (mind the memory on the full 1.4M-row files)."""
    return list(
        iter_questions(path, format=format, offset=offset, limit=limit, skip_invalid=skip_invalid)
    )
