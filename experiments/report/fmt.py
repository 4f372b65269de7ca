"""Small formatting helpers shared by run reports, comparisons and their sentences: counts with
thousands separators, numbers that stay integers when they count something, and plurals."""

from __future__ import annotations

from numbers import Real

from experiments.metrics.headline import format_unit


def count(n: float | None) -> str:
    """An integer count with thousands separators: ``15,580`` (a float count is rounded); the
    rule of a count headline (:func:`~experiments.metrics.headline.format_unit`)."""
    return format_unit("count", n)


def number(v: float | None, digits: int = 2) -> str:
    """An ``int`` as a count (``15,580``), any other number with ``digits`` decimals and
    thousands separators (``1,234.50``); None as ``n/a``."""
    if v is None:
        return "n/a"
    if isinstance(v, bool) or not isinstance(v, Real):
        return str(v)
    if isinstance(v, int):
        return count(v)
    return f"{v:,.{digits}f}"


def counter(v: float | None, digits: int = 2) -> str:
    """A value that is usually a count but arrives as a float (simulator counters): whole
    numbers print as counts, fractions keep ``digits`` decimals."""
    if v is None:
        return "n/a"
    if float(v).is_integer():
        return count(v)
    return number(float(v), digits)


def plural(n: int, noun: str, plural_form: str | None = None) -> str:
    """``1 question``, ``2 questions``, ``15,580 questions`` (``plural_form`` for irregular
    nouns: ``plural(2, "retry", "retries")``)."""
    word = noun if n == 1 else (plural_form or noun + "s")
    return f"{count(n)} {word}"


def was(n: int) -> str:
    """The verb agreeing with ``n``: ``was`` for 1, ``were`` otherwise."""
    return "was" if n == 1 else "were"
