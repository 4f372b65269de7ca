"""Per-worker figures: which LLM worker answered how many questions, with how many calls.

Over the whole run (every LLM pass, not only the steady window: the point is how the load was
spread), from each attempt's ``worker`` (:class:`~experiments.metrics.model.LlmAttempt`):

- **questions answered**: answered passes (accepted or low_quality, cache hits left out) whose
  final successful attempt (the last ``ok`` one by round and attempt number) that worker made;
- **attempts** and **errors**: the LLM calls it made, and those that failed;
- **attempt p50 / p99**: its calls' duration (HdrHistogram, as every latency).

Attempts whose worker is unknown (telemetry from before workers were recorded, a lost event)
form one row of their own, ``worker`` None, when some attempt does name its worker; a run in
which none does has no rows.

Worker ids are ``<host>-<index>-<pid>`` (:mod:`pipeline.worker.runner`): a host name (a container
id under compose), the worker's index, its process id. :func:`worker_labels` keeps only the parts
that tell the run's workers apart.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from experiments.metrics.histogram import LatencyHistogram
from experiments.metrics.model import LlmAttempt, QuestionOutcome

ANSWERED = frozenset({"accepted", "low_quality"})
#: the label of the attempts whose worker is unknown
UNKNOWN = "unknown"
#: a host part is cut to at least this many characters (a container id's first 6 hex digits)
MIN_HOST_CHARS = 6

_ID = re.compile(r"^(?P<host>.+)-(?P<index>\d+)-(?P<pid>\d+)$")


def _parts(worker: str) -> tuple[str, int, int] | None:
    """(host, index, pid) of a ``<host>-<index>-<pid>`` id; None for any other shape."""
    m = _ID.match(worker)
    return None if m is None else (m["host"], int(m["index"]), int(m["pid"]))


def worker_slot(worker: str) -> str:
    """The worker slot of an id: ``<host>-<index>`` (a restarted worker, a new pid, is the same
    slot); an id of any other shape is its own slot."""
    parts = _parts(worker)
    return worker if parts is None else f"{parts[0]}-{parts[1]}"


def _sort_key(worker: str | None) -> tuple[int, str, int, int, str]:
    if worker is None:
        return (2, "", 0, 0, "")
    parts = _parts(worker)
    if parts is None:
        return (1, "", 0, 0, worker)
    return (0, *parts, "")


def _host_width(hosts: set[str]) -> int:
    """The shortest prefix length (at least :data:`MIN_HOST_CHARS`) keeping ``hosts`` distinct."""
    longest = max(len(h) for h in hosts)
    for width in range(min(MIN_HOST_CHARS, longest), longest + 1):
        if len({h[:width] for h in hosts}) == len(hosts):
            return width
    return longest


def worker_labels(workers: Iterable[str]) -> dict[str, str]:
    """A short, distinct label per worker id.

    The host is kept (cut to the shortest prefix that keeps the hosts apart) when the workers run
    on several hosts, the index (``#1``) when it differs between workers of one host, and the
    process id (``pid 4242``) when host and index are not enough (a worker restarted during the
    run). One local fleet reads ``#0``, ``#1``; three compose replicas ``3f2a9c``, ``8b01d2``,
    ``c4e5f6``. Ids of another shape are kept whole; if the short labels still collide, every
    label is the whole id.
    """
    ids = sorted(set(workers), key=_sort_key)
    parsed = {w: _parts(w) for w in ids}
    good = {w: p for w, p in parsed.items() if p is not None}
    hosts = {p[0] for p in good.values()}
    several_hosts = len(hosts) > 1
    width = _host_width(hosts) if several_hosts else 0
    per_host_indexes: dict[str, set[int]] = defaultdict(set)
    for host, index, _ in good.values():
        per_host_indexes[host].add(index)
    host_index_count: dict[tuple[str, int], int] = defaultdict(int)
    for host, index, _ in good.values():
        host_index_count[(host, index)] += 1
    labels: dict[str, str] = {}
    for worker in ids:
        parts = parsed[worker]
        if parts is None:
            labels[worker] = worker
            continue
        host, index, pid = parts
        words = [host[:width]] if several_hosts else []
        if len(per_host_indexes[host]) > 1 or not several_hosts:
            words.append(f"#{index}")
        if host_index_count[(host, index)] > 1:
            words.append(f"pid {pid}")
        labels[worker] = " ".join(words)
    if len(set(labels.values())) < len(labels):
        return {w: w for w in ids}
    return labels


def _final_ok(attempts: Sequence[LlmAttempt]) -> LlmAttempt | None:
    ok = [a for a in attempts if a.status == "ok"]
    return max(ok, key=lambda a: (a.round, a.attempt)) if ok else None


def workers_section(
    questions: Sequence[QuestionOutcome], attempts: Sequence[LlmAttempt]
) -> list[dict[str, Any]]:
    """One row per worker (in worker order, the unknown one last), empty when no attempt names
    its worker. See the module for the definitions."""
    if not any(a.worker is not None for a in attempts):
        return []
    by_worker: dict[str | None, list[LlmAttempt]] = defaultdict(list)
    by_question: dict[str, list[LlmAttempt]] = defaultdict(list)
    for a in attempts:
        by_worker[a.worker].append(a)
        by_question[a.question_id].append(a)
    answered: dict[str | None, int] = defaultdict(int)
    for q in questions:
        if q.cache_hit or q.state not in ANSWERED:
            continue
        final = _final_ok(by_question.get(q.question_id, ()))
        if final is not None:
            answered[final.worker] += 1
    labels = worker_labels(w for w in by_worker if w is not None)
    rows = []
    for worker in sorted(by_worker, key=_sort_key):
        made = by_worker[worker]
        hist = LatencyHistogram.of(a.ended_at - a.started_at for a in made)
        levels = hist.percentiles([50.0, 99.0])
        rows.append({
            "worker": worker,
            "label": UNKNOWN if worker is None else labels[worker],
            "questions_answered": answered.get(worker, 0),
            "attempts": len(made),
            "errors": sum(a.status == "error" for a in made),
            "attempt_p50_s": levels[50.0],
            "attempt_p99_s": levels[99.0],
        })
    return rows
