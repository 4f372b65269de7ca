"""Puts bench/ on ``sys.path`` for the integration tests of its helper modules, as running a
script from bench/ does (see tests/unit/bench/conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[3] / "bench"
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))
