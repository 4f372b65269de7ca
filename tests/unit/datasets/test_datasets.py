"""Dataset loaders (4-column CSV, Hugging Face layout), stable ids, the synthetic corpus."""

from __future__ import annotations

import gzip
import json
import logging
import math
import re
import sys
from collections import Counter
from pathlib import Path
from statistics import mean

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.datasets import (
    TOPICS,
    DatasetError,
    Question,
    detect_format,
    iter_questions,
    iter_yahoo_csv,
    load_questions,
    question_id,
    synthesize,
    write_synthetic_csv,
    write_yahoo_csv,
)

# Three rows in the real file's style: all fields quoted, "" for a quote, \n for a newline,
# empty content, an empty answer, a comma and a real (quoted) line break inside a field.
YAHOO_CSV = (
    '"5","why doesn\'t an optical mouse work on a glass table?","or even on some surfaces?",'
    '"Optical mice use an LED and a camera to rapidly\\ncapture images of the surface beneath the mouse."\n'
    '"6","What is the best off-road motorcycle trail ?","long-distance trail throughout CA",'
    '"i hear that the mojave road is amazing!<br />\\nsearch for it online."\n'
    '"3","He said ""hi"", then left","",""\n'
    '"10","a, b\nc","",'
    '"first\\n\\nsecond"\n'
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yahoo_csv_edge_cases(tmp_path: Path) -> None:
    qs = load_questions(write(tmp_path, "train.csv", YAHOO_CSV))
    assert [q.topic_id for q in qs] == [4, 5, 2, 9]
    assert qs[0].topic == "Computers & Internet" and qs[0].class_index == 5
    assert qs[0].best_answer.endswith("rapidly\ncapture images of the surface beneath the mouse.")
    assert (
        qs[1].best_answer == "i hear that the mojave road is amazing!<br />\nsearch for it online."
    )
    assert qs[2].title == 'He said "hi", then left'
    assert qs[2].content == "" and qs[2].best_answer == ""
    assert qs[3].title == "a, b\nc" and qs[3].best_answer == "first\n\nsecond"
    assert [q.row for q in qs] == [0, 1, 2, 3] and {q.source for q in qs} == {"train"}
    raw = list(iter_yahoo_csv(tmp_path / "train.csv", unescape=False))
    assert raw[3].best_answer == "first\\n\\nsecond"


def test_yahoo_csv_write_read_round_trip(tmp_path: Path) -> None:
    qs = load_questions(write(tmp_path, "a.csv", YAHOO_CSV))
    out = tmp_path / "b.csv.gz"
    assert write_yahoo_csv(qs, out) == 4
    with gzip.open(out, "rt", encoding="utf-8") as f:
        first = f.readline()
    assert first.startswith('"5","why doesn') and "rapidly\\ncapture" in first
    back = load_questions(out)
    assert [(q.id, q.topic_id, q.title, q.content, q.best_answer) for q in back] == [
        (q.id, q.topic_id, q.title, q.content, q.best_answer) for q in qs
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('"5","only","three"\n', "expected 4 columns"),
        ('"0","t","c","a"\n', "class index must be 1-10"),
        ('"11","t","c","a"\n', "class index must be 1-10"),
        ('"x","t","c","a"\n', "must be an integer"),
    ],
)
def test_yahoo_csv_malformed_rows_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, "bad.csv", '"1","t","c","a"\n' + line)
    with pytest.raises(DatasetError, match=rf"bad\.csv:2: .*{message}"):
        load_questions(path)


def test_yahoo_csv_skip_invalid_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, "bad.csv", '"1","t","c","a"\n"12","t","c","a"\n"2","t2","","a2"\n')
    with caplog.at_level(logging.WARNING):
        qs = load_questions(path, skip_invalid=True)
    assert [q.title for q in qs] == ["t", "t2"] and [q.row for q in qs] == [0, 2]
    assert "skipped 1 malformed row" in caplog.text


def hf_rows() -> list[dict]:
    return [
        {
            "id": 0,
            "topic": 4,
            "question_title": "why doesn't an optical mouse work on a glass table?",
            "question_content": "or even on some surfaces?",
            "best_answer": "Optical mice use an LED and a camera to rapidly\\ncapture images of the surface beneath the mouse.",
        },
        {
            "id": 1,
            "topic": "Sports",
            "question_title": "t",
            "question_content": None,
            "best_answer": "a",
        },
    ]


def test_hf_jsonl_csv_and_ids_match_the_4_column_file(tmp_path: Path) -> None:
    jsonl = write(tmp_path, "hf.jsonl", "\n".join(json.dumps(r) for r in hf_rows()) + "\n\n")
    header = "id,topic,question_title,question_content,best_answer\n"
    csv_text = (
        header
        + '0,4,"why doesn\'t an optical mouse work on a glass table?","or even on some surfaces?",'
        '"Optical mice use an LED and a camera to rapidly\\ncapture images of the surface beneath the mouse."\n'
        "1,5,t,,a\n"
    )
    hf_csv = write(tmp_path, "hf.csv", csv_text)
    assert detect_format(jsonl) == "hf" and detect_format(hf_csv) == "hf"
    yahoo = write(tmp_path, "y.csv", YAHOO_CSV)
    assert detect_format(yahoo) == "yahoo_csv"
    from_jsonl, from_csv, from_yahoo = (
        load_questions(jsonl),
        load_questions(hf_csv),
        load_questions(yahoo),
    )
    assert [q.topic_id for q in from_jsonl] == [4, 5] == [q.topic_id for q in from_csv]
    assert from_jsonl[1].content == "" and from_jsonl[1].row == 1
    assert from_jsonl[0].best_answer == from_yahoo[0].best_answer
    assert from_jsonl[0].id == from_csv[0].id == from_yahoo[0].id  # stable across formats


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"topic": 10, "question_title": "t", "question_content": "", "best_answer": "a"},
            "topic must be 0-9",
        ),
        (
            {"topic": "Cooking", "question_title": "t", "question_content": "", "best_answer": "a"},
            "topic must be",
        ),
        ({"topic": 1, "question_title": "t", "best_answer": "a"}, "missing field"),
        (
            {"topic": 1, "question_title": 3, "question_content": "", "best_answer": "a"},
            "expected text",
        ),
    ],
)
def test_hf_malformed_rows_name_the_row(tmp_path: Path, row: dict, message: str) -> None:
    path = write(tmp_path, "hf.jsonl", json.dumps(hf_rows()[0]) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(DatasetError, match=rf"hf\.jsonl:2: .*{message}"):
        load_questions(path)


def test_hf_csv_missing_column_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="missing column"):
        load_questions(
            write(tmp_path, "x.csv", "id,topic,question_title,best_answer\n1,2,t,a\n"), format="hf"
        )
    with pytest.raises(DatasetError, match=r"y\.jsonl:1: invalid JSON"):
        load_questions(write(tmp_path, "y.jsonl", "{oops\n"))


def test_hf_parquet_export_loads_like_the_jsonl_one(tmp_path: Path) -> None:
    rows = [{**r, "topic": 5} if r["topic"] == "Sports" else r for r in hf_rows()]  # class labels
    parquet = tmp_path / "train-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    jsonl = write(tmp_path, "hf.jsonl", "\n".join(json.dumps(r) for r in hf_rows()) + "\n")
    assert detect_format(parquet) == "hf"
    from_parquet = load_questions(parquet)
    assert [(q.title, q.content, q.best_answer, q.topic_id, q.id) for q in from_parquet] == [
        (q.title, q.content, q.best_answer, q.topic_id, q.id) for q in load_questions(jsonl)]
    assert from_parquet[0].best_answer.endswith("rapidly\ncapture images of the surface beneath the mouse.")
    assert from_parquet[1].content == "" and from_parquet[1].topic == "Sports"
    assert load_questions(parquet, offset=1)[0].title == "t"


def test_parquet_without_pyarrow_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # import fails as if not installed
    with pytest.raises(DatasetError, match="needs pyarrow"):
        load_questions(write(tmp_path, "x.parquet", ""))


def test_offset_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    write_synthetic_csv(path, rows=50, seed=3)
    window = load_questions(path, offset=10, limit=5)
    assert [q.row for q in window] == [10, 11, 12, 13, 14]
    assert len(list(iter_questions(path, offset=45))) == 5


def test_question_id_is_stable_and_whitespace_insensitive() -> None:
    a = question_id("Title", "line one\nline two", "answer")
    assert a == question_id("Title ", "line one line two", "answer")
    assert re.fullmatch(r"[0-9a-f]{20}", a)
    assert a != question_id("Title", "line one", "line two answer")  # field boundaries count
    q = Question.create(0, "Title", "line one\nline two", "answer")
    assert q.id == a
    assert q.envelope_fields()["topic"] == TOPICS[0]
    with pytest.raises(ValueError, match="topic_id"):
        Question.create(10, "t", "c", "a")


def test_question_id_pinned_value() -> None:
    # Pinned so that a change of the id scheme (which would orphan stored answers) fails loudly.
    assert question_id("How?", "", "Like this.") == "a5a8fb6f6d54474d3cdb"


def test_synthetic_is_deterministic_and_prefix_stable() -> None:
    a = list(synthesize(300, seed=7))
    assert a == list(synthesize(300, seed=7))
    assert list(synthesize(100, seed=7)) == a[:100]
    assert [q.id for q in synthesize(50, seed=8)] != [q.id for q in a[:50]]
    assert len({q.id for q in a}) == len(a)


def test_synthetic_shape_and_relatedness() -> None:
    qs = list(synthesize(2000, seed=1))
    counts = Counter(q.topic_id for q in qs)
    assert set(counts) == set(range(10)) and min(counts.values()) > 150
    words = [len(q.best_answer.split()) for q in qs]
    assert min(words) >= 20 and max(words) <= 125
    assert 0.25 < sum(q.content == "" for q in qs) / len(qs) < 0.45
    assert any("\n" in q.best_answer for q in qs) and any("\n" in q.content for q in qs)

    def cosine(x: str, y: str) -> float:  # term-frequency cosine over words longer than 4 letters
        a, b = (Counter(w for w in re.findall(r"[a-z]+", t.lower()) if len(w) > 4) for t in (x, y))
        dot = sum(a[k] * b[k] for k in a)
        return dot / math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))

    own, same_topic, other_topic = [], [], []
    for q in qs[:300]:
        text = q.title + " " + q.content
        same = next(o for o in qs[300:] if o.topic_id == q.topic_id)
        other = next(o for o in qs[300:] if o.topic_id != q.topic_id)
        own.append(cosine(text, q.best_answer))
        same_topic.append(cosine(text, same.best_answer))
        other_topic.append(cosine(text, other.best_answer))
    # an answer is closest to its own question, then to its topic, and far from other topics
    assert mean(own) > 0.4 > 0.2 > mean(same_topic) > 2 * mean(other_topic)


def test_synthetic_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "synthetic.csv"
    assert write_synthetic_csv(path, rows=200, seed=5) == 200
    assert detect_format(path) == "yahoo_csv"
    back = load_questions(path)
    expected = list(synthesize(200, seed=5))
    assert [q.id for q in back] == [q.id for q in expected]
    assert [q.best_answer for q in back] == [q.best_answer for q in expected]
    with pytest.raises(ValueError):
        list(synthesize(-1))


def test_synthetic_ids_are_pinned() -> None:
    # A change to the generator changes every id (and orphans stored answers): make it explicit.
    assert [q.id for q in synthesize(3, seed=0)] == [
        "e654e81adb9b4c8d0d4d",
        "95843f14c4f89d690705",
        "30fb72e5c331f46c354c",
    ]
