r"""The original Yahoo! Answers CSV (Zhang et al., 2015): no header, four quoted columns
``class index (1-10), question title, question content, best answer``; ``""`` escapes a quote and
the two characters ``\n`` stand for a newline; any field but the class may be empty."""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

from pipeline.datasets._io import dataset_name, open_text, raise_csv_field_limit
from pipeline.datasets.model import (
    TOPICS,
    DatasetError,
    Question,
    escape_newlines,
    unescape_newlines,
)

__all__ = ["iter_yahoo_csv", "write_yahoo_csv"]

log = logging.getLogger(__name__)


def iter_yahoo_csv(
    path: str | Path,
    *,
    source: str | None = None,
    unescape: bool = True,
    skip_invalid: bool = False,
) -> Iterator[Question]:
    r"""Stream the rows of a 4-column Yahoo! Answers CSV (``.gz`` too).

    ``unescape`` turns ``\n`` sequences into newlines. A malformed row (wrong column count, class
    not 1-10) raises :class:`DatasetError` naming the line, or is skipped and counted in a warning
    with ``skip_invalid``. ``Question.row`` counts the file's records from 0 (skipped ones too).
    """
    raise_csv_field_limit()
    name = source if source is not None else dataset_name(path)
    skipped = 0
    with open_text(path) as f:
        reader = csv.reader(f)
        for row_index, fields in enumerate(reader):
            try:
                yield _question(fields, name, row_index, unescape)
            except DatasetError as exc:
                if not skip_invalid:
                    raise DatasetError(f"{path}:{reader.line_num}: {exc}") from None
                skipped += 1
                log.debug("skipping %s:%d: %s", path, reader.line_num, exc)
    if skipped:
        log.warning("%s: skipped %d malformed row(s)", path, skipped)


def _question(fields: list[str], source: str, row: int, unescape: bool) -> Question:
    if len(fields) != 4:
        raise DatasetError(f"expected 4 columns (class, title, content, answer), got {len(fields)}")
    cls, title, content, answer = fields
    try:
        class_index = int(cls)
    except ValueError:
        raise DatasetError(f"class index must be an integer 1-{len(TOPICS)}, got {cls!r}") from None
    if not 1 <= class_index <= len(TOPICS):
        raise DatasetError(f"class index must be 1-{len(TOPICS)}, got {class_index}")
    if unescape:
        title, content, answer = (
            unescape_newlines(title),
            unescape_newlines(content),
            unescape_newlines(answer),
        )
    return Question.create(class_index - 1, title, content, answer, source=source, row=row)


def write_yahoo_csv(questions: Iterable[Question], path: str | Path) -> int:
    r"""Write the 4-column format (every field quoted, newlines as ``\n``); returns the row count."""
    count = 0
    with open_text(path, "w") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for q in questions:
            writer.writerow(
                (
                    q.class_index,
                    escape_newlines(q.title),
                    escape_newlines(q.content),
                    escape_newlines(q.best_answer),
                )
            )
            count += 1
    return count
