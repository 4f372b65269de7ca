"""Drop secrets from anything that goes into a report."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# "token$": auth_token, bearerToken; not the counts max_tokens, tokens_per_min, per_token_s
_SECRET_KEY = re.compile(r"key|password|passwd|secret|token$|credential", re.IGNORECASE)


def is_secret_key(name: str) -> bool:
    """True for keys named like *key*, *password*, *secret*, *token (any case)."""
    return bool(_SECRET_KEY.search(name))


def _strip_userinfo(value: str) -> str:
    """``scheme://user:pass@host/...`` -> ``scheme://host/...``; anything else unchanged."""
    if "://" not in value or "@" not in value:
        return value
    parts = urlsplit(value)
    if not parts.netloc or "@" not in parts.netloc:
        return value
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def redact(value: Any) -> Any:
    """A copy of ``value`` with secret-named keys dropped and URL credentials stripped, recursively."""
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items() if not is_secret_key(str(k))}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _strip_userinfo(value)
    return value
