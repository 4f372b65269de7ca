"""The dataset row (:class:`Question`), the 10 Yahoo! Answers topics and stable question ids."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

__all__ = [
    "TOPICS",
    "DatasetError",
    "Question",
    "escape_newlines",
    "question_id",
    "unescape_newlines",
]

# Index = topic_id (0-based, Hugging Face numbering); the 4-column CSV's class index is topic_id + 1.
TOPICS: tuple[str, ...] = (
    "Society & Culture",
    "Science & Mathematics",
    "Health",
    "Education & Reference",
    "Computers & Internet",
    "Sports",
    "Business & Finance",
    "Entertainment & Music",
    "Family & Relationships",
    "Politics & Government",
)


class DatasetError(ValueError):
    """A dataset file that cannot be read; the message names the file and line or row."""


def question_id(title: str, content: str, best_answer: str) -> str:
    """A stable id from the text: 20 hex digits of sha1 over the whitespace-normalised fields.

    Whitespace is collapsed first, so the 4-column CSV, the Hugging Face layout and a synthetic
    file written to CSV and read back all give a row the same id. Rows with identical text share
    an id, which is right for the pipeline: storage treats them as one question (a cache hit).
    """
    norm = "\x1f".join(" ".join(part.split()) for part in (title, content, best_answer))
    return hashlib.sha1(norm.encode("utf-8"), usedforsecurity=False).hexdigest()[:20]


def unescape_newlines(text: str) -> str:
    r"""The Yahoo! Answers files write a newline as the two characters ``\n``."""
    return text.replace("\\n", "\n") if "\\n" in text else text


def escape_newlines(text: str) -> str:
    r"""Inverse of :func:`unescape_newlines` (``\r\n``, ``\r`` and ``\n`` become ``\n`` literally)."""
    if "\n" not in text and "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")


@dataclass(frozen=True, slots=True)
class Question:
    """One dataset row: a question, its topic and its best (reference) answer."""

    id: str
    topic_id: int
    title: str
    content: str
    best_answer: str
    source: str = ""  # the dataset's name, e.g. "train" or "synthetic-42"
    row: int = -1  # 0-based row index in the source

    @classmethod
    def create(
        cls,
        topic_id: int,
        title: str,
        content: str,
        best_answer: str,
        *,
        source: str = "",
        row: int = -1,
    ) -> Question:
        """A question whose id is derived from its text (see :func:`question_id`)."""
        if not 0 <= topic_id < len(TOPICS):
            raise ValueError(f"topic_id must be 0..{len(TOPICS) - 1}, got {topic_id}")
        return cls(
            question_id(title, content, best_answer),
            topic_id,
            title,
            content,
            best_answer,
            source,
            row,
        )

    @property
    def topic(self) -> str:
        return TOPICS[self.topic_id]

    @property
    def class_index(self) -> int:
        """The 4-column CSV's class (1-10)."""
        return self.topic_id + 1

    def envelope_fields(self) -> dict[str, Any]:
        """The :class:`pipeline.messages.Envelope` fields that come from the dataset."""
        return {
            "question_id": self.id,
            "question": {"title": self.title, "content": self.content},
            "reference_answer": self.best_answer,
            "topic": self.topic,
            "topic_id": self.topic_id,
        }
