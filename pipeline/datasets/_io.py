"""Opening dataset files: plain or gzip-compressed text, UTF-8."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path
from typing import TextIO, cast

_CSV_FIELD_LIMIT = 16 * 1024 * 1024


def open_text(path: str | Path, mode: str = "r") -> TextIO:
    """Open ``path`` as UTF-8 text (``newline=""`` for csv); ``*.gz`` is (de)compressed."""
    path = Path(path)
    if path.suffix == ".gz":
        return cast(TextIO, gzip.open(path, mode + "t", encoding="utf-8", newline=""))
    return cast(TextIO, path.open(mode, encoding="utf-8", newline=""))


def raise_csv_field_limit() -> None:
    """Yahoo! answers can exceed csv's default 128 KiB field limit (a process-wide setting)."""
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)


def base_suffix(path: str | Path) -> str:
    """The suffix that names the format: 'train.csv.gz' -> '.csv'."""
    path = Path(path)
    if path.suffix == ".gz":
        path = path.with_suffix("")
    return path.suffix.lower()


def dataset_name(path: str | Path) -> str:
    """'data/train.csv.gz' -> 'train'."""
    name = Path(path).name
    for suffix in (".gz", ".csv", ".jsonl", ".json", ".parquet"):
        name = name.removesuffix(suffix)
    return name
