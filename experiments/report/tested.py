"""What a run tested, in the words of its spec: the retry policy and its parameters, the LLM
backend and profile, the arrival process, the workers, scoring and the faults scheduled. A run
report opens with this table.

The spec in metrics.json is free-form (older runs and synthetic ones use other keys), so every
row reads what is there: a known field gets a sentence, an unknown retry field is listed as it
is, and a missing one is left out rather than guessed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from experiments.metrics.headline import format_seconds
from experiments.metrics.redact import redact
from experiments.metrics.schema import RunMetrics
from experiments.metrics.workers import worker_slot
from experiments.report.document import Section, Table
from experiments.report.fmt import count, plural

#: retry fields the rows below describe; any other retry field is listed as "other settings"
_RETRY_KNOWN = frozenset(
    {
        "kind", "policy", "jitter", "base_s", "multiplier", "cap_s", "max_attempts",
        "max_elapsed_s", "retry_after", "retry_on", "bad_completion_retries", "budget_ratio",
        "budget_min_retries_per_s", "budget_ttl_s", "throttle_max_tokens",
        "throttle_token_ratio", "breaker_failure_threshold", "breaker_open_s",
        "breaker_half_open_max_calls", "concurrency", "concurrency_limit", "concurrency_min",
        "concurrency_max", "aimd_increase", "aimd_backoff_ratio", "rate_limit_per_s",
        "rate_limit_burst", "max_deferrals",
    }
)

_RETRY_AFTER = {
    "obey": "obeyed (waits at least the server's hint)",
    "exact": "exact (waits exactly the server's hint when given)",
    "ignore": "ignored (the backoff delay only)",
}


def _g(v: Any) -> str:
    """A spec number as written: 0.1, 2, 45 (not 45.0)."""
    return f"{v:g}" if isinstance(v, float) else str(v)


def _secs(v: Any) -> str:
    return format_seconds(float(v)) if isinstance(v, int | float) else str(v)


def _section(spec: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = spec.get(key)
    return value if isinstance(value, Mapping) else {}


def _backoff(r: Mapping[str, Any]) -> str | None:
    parts = []
    if "base_s" in r:
        parts.append(f"base {_secs(r['base_s'])}")
    if "multiplier" in r and r.get("kind") not in ("fixed", "none"):
        parts.append(f"x{_g(r['multiplier'])} per attempt")
    if "cap_s" in r:
        parts.append(f"capped at {_secs(r['cap_s'])}")
    return ", ".join(parts) or None


def _attempts(r: Mapping[str, Any]) -> str | None:
    parts = []
    if "max_attempts" in r:
        parts.append(f"at most {_g(r['max_attempts'])} in total (the first included)")
    if r.get("max_elapsed_s"):
        parts.append(f"gives up {_secs(r['max_elapsed_s'])} after the first")
    if "max_deferrals" in r:
        parts.append(f"{plural(int(r['max_deferrals']), 'deferral')} to retry tiers per round")
    return "; ".join(parts) or None


def _retry_on(r: Mapping[str, Any]) -> str | None:
    classes = r.get("retry_on")
    if classes is None:
        return None
    text = ", ".join(str(c) for c in classes) if classes else "nothing"
    if "bad_completion_retries" in r and "bad_completion" in (classes or []):
        text += f" (bad completions: {plural(int(r['bad_completion_retries']), 'retry', 'retries')})"
    return text


def _limits(r: Mapping[str, Any]) -> list[list[str]]:
    """Budget, client rate limit, throttling, breaker and concurrency limit, when switched on."""
    rows = []
    if r.get("budget_ratio"):
        rows.append(
            [
                "retry budget",
                f"{float(r['budget_ratio']) * 100:g}% of requests over "
                f"{_secs(r.get('budget_ttl_s', 10.0))}, at least "
                f"{_g(r.get('budget_min_retries_per_s', 10.0))} retries/s",
            ]
        )
    if r.get("rate_limit_per_s"):
        rows.append(
            [
                "client rate limit",
                f"{_g(r['rate_limit_per_s'])} requests/s, burst {_g(r.get('rate_limit_burst', 10))}",
            ]
        )
    if r.get("throttle_max_tokens"):
        rows.append(
            [
                "retry throttling",
                f"{_g(r['throttle_max_tokens'])} tokens, {_g(r.get('throttle_token_ratio', 0.1))} "
                "back per success",
            ]
        )
    if r.get("breaker_failure_threshold"):
        rows.append(
            [
                "circuit breaker",
                f"opens after {_g(r['breaker_failure_threshold'])} consecutive overloads for "
                f"{_secs(r.get('breaker_open_s', 30.0))}",
            ]
        )
    kind = r.get("concurrency")
    if kind and kind != "unlimited":
        limit = _g(r.get("concurrency_limit", 16))
        text = f"{kind}, {limit} calls in flight"
        if kind == "aimd":
            text += f" to start (between {_g(r.get('concurrency_min', 1))} and {_g(r.get('concurrency_max', 256))})"
        rows.append(["concurrency limit", text])
    return rows


def retry_rows(spec: Mapping[str, Any]) -> list[list[str]]:
    """The retry policy, field by field (nothing when the spec has no retry section)."""
    r = _section(spec, "retry")
    if not r:
        return [["retry policy", "not recorded in the spec"]]
    kind = str(r.get("kind") or r.get("policy") or "unnamed")
    if r.get("kind") == "exponential_jitter" and "jitter" in r:
        kind += f", {r['jitter']} jitter"
    elif "jitter" in r and r.get("jitter") != "none":
        kind += f" (jitter {r['jitter']} applies only to exponential_jitter)"
    rows = [["retry policy", kind]]
    for label, text in (
        ("backoff", _backoff(r)),
        ("attempts", _attempts(r)),
        ("retried error classes", _retry_on(r)),
        ("Retry-After", _RETRY_AFTER.get(str(r.get("retry_after")), r.get("retry_after"))),
    ):
        if text is not None:
            rows.append([label, str(text)])
    rows += _limits(r)
    other = {k: v for k, v in r.items() if k not in _RETRY_KNOWN}
    if other:
        rows.append(
            ["other retry settings", ", ".join(f"{k}={json.dumps(v)}" for k, v in other.items())]
        )
    return rows


def llm_rows(spec: Mapping[str, Any]) -> list[list[str]]:
    llm = _section(spec, "llm")
    if not llm:
        return []
    parts = [str(llm.get("backend", "unknown backend"))]
    profile = llm.get("profile", llm.get("fault_profile"))
    if profile is not None:
        parts.append(f"profile {profile}")
    if llm.get("model"):
        parts.append(f"model {llm['model']}")
    rows = [["LLM", ", ".join(parts)]]
    if "profile_overrides" in llm:
        overrides = llm["profile_overrides"]
        rows.append(
            ["profile overrides", json.dumps(redact(overrides), sort_keys=True) if overrides else "none"]
        )
    return rows


def arrival_text(a: Mapping[str, Any]) -> str:
    """``poisson at 4/s for 45 s`` and the process's shape parameters."""
    kind = str(a.get("kind", "unknown"))
    text = kind
    if kind == "ramp":
        text += f" from {_g(a.get('rate_from'))}/s to {_g(a.get('rate_to'))}/s over {_secs(a.get('ramp_s'))}"
    elif kind == "step":
        text += f" steps {a.get('steps')}"
    elif kind == "trace":
        text += f" replaying {a.get('trace_path')}"
    elif "rate" in a:
        text += f" at {_g(a['rate'])}/s"
    if "duration_s" in a:
        text += f" for {_secs(a['duration_s'])}"
    if kind == "gamma" and "cv" in a:
        text += f", cv {_g(a['cv'])}"
    if kind == "onoff":
        text += f", {_secs(a.get('on_s'))} on / {_secs(a.get('off_s'))} off"
    return text


def _fault(f: Any) -> str:
    if not isinstance(f, Mapping):
        return str(f)
    text = f"{f.get('action', '?')} {f.get('target', '?')}"
    if f.get("worker") is not None:
        text += f" {f['worker']}"
    if f.get("action") == "outage" and "status" in f:
        text += f" ({f['status']})"
    if f.get("duration_s"):
        text += f" for {_secs(f['duration_s'])}"
    return text + f" at {_secs(f.get('at_s', 0))}"


def workers_seen(m: RunMetrics) -> int:
    """Distinct worker slots that made the run's LLM calls: ids are ``<host>-<index>-<pid>``, and
    a restarted worker (a new pid) is the same slot. A deployment (docker compose ``--scale``)
    runs as many as it was told, whatever the spec's ``workers.count`` says."""
    return len({worker_slot(w.worker) for w in m.workers if w.worker})


def setting_rows(m: RunMetrics) -> list[list[str]]:
    """Every row of the "What was tested" table, retry policy first."""
    spec = m.spec
    rows = retry_rows(spec) + llm_rows(spec)
    arrival = _section(spec, "arrival")
    if arrival:
        rows.append(["arrival", arrival_text(arrival)])
    workers = _section(spec, "workers")
    if workers:
        text = (f"{_g(workers.get('count', '?'))} x {_g(workers.get('concurrency', '?'))} "
                "concurrent calls")
        seen = workers_seen(m)
        if seen and str(seen) != _g(workers.get("count", "?")):
            text += f" in the spec; {seen} made the run's LLM calls (the deployment's count)"
        rows.append(["workers", text])
    scoring = _section(spec, "scoring") or _section(spec, "flink")
    threshold = m.run.score_threshold if m.run.score_threshold is not None else scoring.get("threshold")
    rounds = m.run.max_rounds if m.run.max_rounds is not None else scoring.get("max_rounds")
    rows.append(
        [
            "score threshold / regeneration limit",
            f"{'n/a' if threshold is None else _g(threshold)} / "
            f"{'n/a' if rounds is None else plural(int(rounds), 'round')}",
        ]
    )
    faults = spec.get("faults") or []
    rows.append(["faults scheduled", "; ".join(_fault(f) for f in faults) if faults else "none"])
    rep = m.repeat_stats()
    if rep is not None:
        rows.append(["repeats", f"{count(rep.n)} ({', '.join(rep.runs)})" if rep.runs else count(rep.n)])
    return rows


def what_was_tested(m: RunMetrics) -> Section:
    return Section(
        "What was tested", [Table(["setting", "value"], setting_rows(m), align_numbers=False)]
    )
