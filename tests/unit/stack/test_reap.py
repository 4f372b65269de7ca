"""The TaskManager's start ends the PyFlink workers a killed TaskManager left behind: ours only,
and only orphans (a live TaskManager's workers have it as their parent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.layout import Layout
from harness.stack import reap


def test_only_our_orphaned_pyflink_workers_are_reaped(monkeypatch: pytest.MonkeyPatch) -> None:
    layout = Layout(home=Path("/state"))
    parents = {10: 1, 11: 4242, 12: 1}  # 11 belongs to a live TaskManager
    monkeypatch.setattr(reap, "matching", lambda *needles: {10, 11, 12})
    monkeypatch.setattr(reap.marks, "marked", lambda mark: {10, 11})  # 12: another stack's
    monkeypatch.setattr(reap, "_parent", lambda pid: parents[pid])
    assert reap.orphaned_pyflink_workers(layout) == {10}


def test_the_parent_is_read_after_the_command_name(tmp_path: Path) -> None:
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "stat").write_text("7 (python3 -m x) S 1 7 7 0 -1")
    assert reap._parent(7, proc=tmp_path) == 1
    assert reap._parent(8, proc=tmp_path) is None
