"""The bottom layer: the repository root, the stack settings and the state folder's layout, one
definition each, imported from foundation everywhere (no re-exports in the layers above)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from experiments.report.settings import ReportSettings
from foundation.layout import SYSTEM_PATH, Layout
from foundation.repo import REPO_ROOT
from foundation.settings import StackSettings, get_settings
from pipeline.kafka.settings import services_env_file

OURS = {"foundation", "pipeline", "flink", "experiments", "harness", "dags"}


def test_the_repository_root_is_the_checkout() -> None:
    assert (REPO_ROOT / "pyproject.toml").is_file()
    assert StackSettings.model_fields["home"].default == REPO_ROOT / ".state"
    assert ReportSettings.model_fields["reports_root"].default == REPO_ROOT / "reports"


FOUNDATION_NAMES = {"REPO_ROOT", "StackSettings", "get_settings", "Layout", "SYSTEM_PATH"}


def test_foundations_names_are_imported_from_foundation_only() -> None:
    """A re-export (``from harness.x import Layout``) would be a second name for one definition."""
    folders = [*sorted(OURS), "tests", "bench"]
    for path in (p for folder in folders for p in sorted((REPO_ROOT / folder).rglob("*.py"))):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                reexported = {a.name for a in node.names} & FOUNDATION_NAMES
                assert not reexported or node.module.startswith("foundation."), (
                    f"{path.relative_to(REPO_ROOT)}:{node.lineno} imports {reexported} from {node.module}")


def test_the_layout_follows_the_home_setting(tmp_path: Path) -> None:
    layout = Layout.of(StackSettings(home=tmp_path))
    assert layout.home == tmp_path.resolve()
    assert layout.services_env == tmp_path / "conf" / "services.env"
    assert layout.flink_savepoints == tmp_path / "flink" / "savepoints"
    assert layout.fault_events == tmp_path / "runs" / "fault-events"
    assert layout.dags == REPO_ROOT / "dags"


def test_services_env_file_is_the_layouts_once_it_exists(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert services_env_file() is None
        Layout(home=tmp_path).conf.mkdir()
        Layout(home=tmp_path).services_env.write_text("HARNESS_KAFKA_BOOTSTRAP=b:9092\n")
        assert services_env_file() == Layout.of(get_settings()).services_env
    finally:
        get_settings.cache_clear()


def test_flink_env_points_at_the_flink_environment(tmp_path: Path) -> None:
    layout = Layout(home=tmp_path)
    with pytest.raises(FileNotFoundError, match="bootstrap"):
        layout.flink_env()
    pyflink = layout.flink_venv / "lib" / "python3.11" / "site-packages" / "pyflink"
    pyflink.mkdir(parents=True)
    env = layout.flink_env()
    assert env["FLINK_HOME"] == str(pyflink)
    assert env["FLINK_CONF_DIR"] == str(layout.flink_conf)
    assert env["PYFLINK_PYTHON"] == str(layout.flink_venv / "bin" / "python")
    assert env["PATH"] == f"{layout.flink_venv / 'bin'}:{SYSTEM_PATH}"  # never the caller's PATH


def test_foundation_imports_nothing_of_ours() -> None:
    """Also a contract of `make lint` (lint-imports); here it fails fast in the unit tests."""
    for path in sorted((REPO_ROOT / "foundation").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert top not in OURS - {"foundation"}, f"{path.name} imports {name}"
