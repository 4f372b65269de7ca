"""The repository root: the one definition every layer uses."""

from __future__ import annotations

from pathlib import Path

#: the checkout (the folder holding pyproject.toml); the Flink job and reports resolve from it
REPO_ROOT = Path(__file__).resolve().parent.parent
