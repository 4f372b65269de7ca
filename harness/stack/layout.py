"""The state folder's layout, re-exported for the stack manager: it lives in
:mod:`foundation.layout` so that every layer may use it."""

from __future__ import annotations

from foundation.layout import Layout

__all__ = ["Layout"]
