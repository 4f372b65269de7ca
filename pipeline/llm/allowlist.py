"""Which base URLs the workers may send the API key to.

Workers send ``HARNESS_LLM_API_KEY`` with every request, to the base URL a record names
(``policy.llm.base_url``). Anyone who can write to qa.questions could therefore point them at a
server of their own and collect the key. The allowlist is fixed when a worker starts: the
worker's own ``HARNESS_LLM_BASE_URL`` and the entries of ``HARNESS_LLM_ALLOWED_BASE_URLS``.

URLs are compared normalised (:func:`normalise`): scheme and host in lower case, the port made
explicit (80 for http, 443 for https), the path without its trailing slashes. A URL is allowed
when its scheme, host and port equal an entry's and its path is the entry's path or below it,
on a segment boundary (``/v1`` allows ``/v1`` and ``/v1/x``, not ``/v10``). A URL a record names
must not carry credentials, a query or a fragment, nor ``.``/``..`` path segments (which would
step out of the prefix on the server): such a URL is never allowed.

Never log or report a URL as given: :func:`redact` drops the credentials, query and fragment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
# A host name or IPv4 address, or a bracketed IPv6 address; then an optional port. Anything else
# in the authority (credentials, backslashes, spaces, ...) may be read differently by the client.
_PLAIN_NETLOC = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(:[0-9]+)?", re.IGNORECASE)


class InvalidBaseUrl(ValueError):
    """Not an absolute http(s) URL with a host. The message never holds the URL's credentials."""


class BaseUrlNotAllowed(ValueError):
    """A base URL off the allowlist. ``url`` is redacted (no credentials, query or fragment)."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(f"llm.base_url not allowed: {url}")


@dataclass(frozen=True)
class BaseUrl:
    """A normalised http(s) base URL: what the allowlist compares."""

    scheme: str
    host: str
    port: int
    path: str  # "" or "/a/b": no trailing slash

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if _DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.path}"

    def covers(self, other: BaseUrl) -> bool:
        """``other`` is this URL or below its path (same scheme, host and port)."""
        if (self.scheme, self.host, self.port) != (other.scheme, other.host, other.port):
            return False
        return other.path == self.path or other.path.startswith(self.path + "/")


def _split(url: str) -> SplitResult:
    parts = urlsplit(url.strip())
    _ = parts.port  # raises ValueError for a port that is not a number in 0..65535
    return parts


def redact(url: str) -> str:
    """``url`` fit for a log line or a dead letter: scheme, host, port and path only (no
    credentials, query or fragment); ``<unparseable URL>`` when it cannot be split at all."""
    try:
        parts = _split(str(url))
    except ValueError:
        return "<unparseable URL>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    netloc = f"//{host}{port}" if parts.netloc else ""
    scheme = f"{parts.scheme}:" if parts.scheme else ""
    return f"{scheme}{netloc}{parts.path}"


def normalise(url: str) -> BaseUrl:
    """The comparable form of an http(s) URL; raises :class:`InvalidBaseUrl` (the message holds
    the redacted URL) when it is not one. Credentials, query and fragment are dropped."""
    try:
        parts = _split(url)
    except ValueError:
        raise InvalidBaseUrl(f"not an http(s) URL: {redact(url)}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise InvalidBaseUrl(f"not an http(s) URL: {redact(url)}")
    port = parts.port if parts.port is not None else _DEFAULT_PORTS[scheme]
    return BaseUrl(scheme, parts.hostname.lower(), port, parts.path.rstrip("/"))


def _is_plain(url: str) -> bool:
    """No credentials, query, fragment or dot segments (checked after percent-decoding), and an
    authority that is a host and a port only."""
    parts = _split(url)
    if not _PLAIN_NETLOC.fullmatch(parts.netloc):
        return False
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return False
    segments = unquote(parts.path).replace("\\", "/").split("/")
    return not any(s in (".", "..") for s in segments)


class BaseUrlAllowlist:
    """The base URLs the workers may call with the API key (see the module's docstring)."""

    def __init__(self, urls: Iterable[str]) -> None:
        self.entries: tuple[BaseUrl, ...] = tuple(dict.fromkeys(normalise(u) for u in urls))
        if not self.entries:
            raise ValueError("an allowlist of base URLs needs at least one entry")

    @classmethod
    def of(cls, own_base_url: str, allowed: Iterable[str] = ()) -> BaseUrlAllowlist:
        """The worker's own base URL (always allowed) and the configured ones."""
        return cls([own_base_url, *allowed])

    def allows(self, url: str) -> bool:
        try:
            if not _is_plain(url):
                return False
            target = normalise(url)
        except ValueError:
            return False
        return any(entry.covers(target) for entry in self.entries)

    def check(self, url: str) -> BaseUrl:
        """The normalised ``url``, or :class:`BaseUrlNotAllowed` (with the URL redacted)."""
        if not self.allows(url):
            raise BaseUrlNotAllowed(redact(url))
        return normalise(url)

    def __str__(self) -> str:
        return ", ".join(str(e) for e in self.entries)

    def __repr__(self) -> str:
        return f"BaseUrlAllowlist([{self}])"
