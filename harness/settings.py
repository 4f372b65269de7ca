"""The stack's settings, re-exported for the CLI and the stack manager: they live in
:mod:`foundation.settings` so that every layer may read them (see foundation/__init__.py)."""

from __future__ import annotations

from foundation.repo import REPO_ROOT
from foundation.settings import StackSettings, get_settings

__all__ = ["REPO_ROOT", "StackSettings", "get_settings"]
