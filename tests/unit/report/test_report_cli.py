"""The `harness report`, `harness compare` and `harness reports-index` commands."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from harness.cli import main


def test_cli_report_compare_and_index(reports_root: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "reports"
    for run in ("fast", "slow"):
        (root / run).mkdir(parents=True)
        for name in ("metrics.json", "questions.csv"):
            shutil.copy(reports_root / run / name, root / run / name)
    assert main(["report", str(root / "fast")]) == 0
    assert (root / "fast" / "index.html").is_file()
    assert (
        main(
            [
                "compare",
                str(root / "fast"),
                str(root / "slow"),
                "--name",
                "b/w",
                "--reports-root",
                str(root),
            ]
        )
        == 0
    )
    out = root / "compare" / "b-w"
    assert json.loads((out / "compare.json").read_text())["runs"] == ["fast", "slow"]
    assert (root / "index.html").is_file()  # compare refreshes the index
    (root / "index.html").unlink()
    assert main(["reports-index", "--reports-root", str(root)]) == 0
    assert "compare/b-w/index.html" in (root / "index.html").read_text()
    assert str(out / "index.html") in capsys.readouterr().out


def test_cli_report_of_a_folder_without_metrics_fails(tmp_path: Path) -> None:
    assert main(["report", str(tmp_path)]) == 2


def test_cli_compare_default_name(reports_root: Path, tmp_path: Path) -> None:
    assert (
        main(
            [
                "compare",
                str(reports_root / "fast"),
                str(reports_root / "slow"),
                "--reports-root",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert (tmp_path / "compare" / "fast-vs-slow" / "index.html").is_file()
