"""`harness dataset synth` and `harness dataset inspect` (no services)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from harness.commands import dataset
from pipeline.datasets import load_questions, synthesize


def main(argv: list[str]) -> int:
    """Parse and run like `harness` does, with only this command registered (fast, isolated)."""
    parser = argparse.ArgumentParser(prog="harness")
    dataset.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_synth_then_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sub" / "s.csv"
    assert main(["dataset", "synth", "--rows", "500", "--seed", "9", "--out", str(out)]) == 0
    assert "wrote 500 rows" in capsys.readouterr().out
    assert [q.id for q in load_questions(out)] == [q.id for q in synthesize(500, seed=9)]

    assert main(["dataset", "inspect", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 500 and summary["distinct_ids"] == 500
    assert summary["format"] == "yahoo_csv"
    assert sum(summary["topics"].values()) == 500 and len(summary["topics"]) == 10
    assert summary["empty_answer"] == 0 and 20 < summary["mean_answer_words"] < 120

    assert main(["dataset", "inspect", str(out), "--limit", "10"]) == 0
    text = capsys.readouterr().out
    assert "10 rows" in text and "Politics & Government" in text


def test_inspect_reports_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text('"12","t","c","a"\n')
    assert main(["dataset", "inspect", str(bad)]) == 2
    assert main(["dataset", "inspect", str(tmp_path / "missing.csv")]) == 2


def test_synth_rejects_negative_rows(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["dataset", "synth", "--rows", "-1", "--out", str(tmp_path / "x.csv")])
