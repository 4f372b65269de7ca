"""Datasets: the Yahoo! Answers formats and a synthetic corpus of the same shape.

    from pipeline.datasets import load_questions, synthesize, write_synthetic_csv
    questions = load_questions("train.csv", limit=10_000)   # 4-column CSV or HF layout, auto-detected
    q = questions[0]; q.id, q.topic, q.title, q.content, q.best_answer
    write_synthetic_csv("synthetic.csv", rows=100_000, seed=42)

Question ids are stable (derived from the text, see :func:`question_id`).
"""

from pipeline.datasets.hf import HF_COLUMNS, iter_hf
from pipeline.datasets.loader import (
    FORMATS,
    DatasetFormat,
    detect_format,
    iter_questions,
    load_questions,
)
from pipeline.datasets.model import TOPICS, DatasetError, Question, question_id
from pipeline.datasets.synthetic import synthesize, write_synthetic_csv
from pipeline.datasets.yahoo_csv import iter_yahoo_csv, write_yahoo_csv

__all__ = [
    "FORMATS",
    "HF_COLUMNS",
    "TOPICS",
    "DatasetError",
    "DatasetFormat",
    "Question",
    "detect_format",
    "iter_hf",
    "iter_questions",
    "iter_yahoo_csv",
    "load_questions",
    "question_id",
    "synthesize",
    "write_synthetic_csv",
    "write_yahoo_csv",
]
