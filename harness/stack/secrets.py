"""Generated secrets of the local stack, kept in the state folder with mode 0600.

Each secret is made once and read back afterwards, so restarts keep passwords and keys stable.
Nothing here logs a secret's value.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path


def _write_private(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    path.chmod(0o600)


SIGNING_KEY_LENGTH = 64
"""Characters of a "signing-key" secret: Airflow signs its API tokens with HS512, for which PyJWT
warns below 64 bytes of key."""


def get_or_create(folder: Path, name: str, kind: str = "token") -> str:
    """Return the secret NAME from FOLDER, creating it (mode 0600) on first use.

    kind: "token" (URL-safe random text, 32 characters), "signing-key" (the same, 64
    characters; one kept from before that is shorter is replaced: keys sign short-lived tokens,
    nothing stored depends on them) or "fernet" (a Fernet key, as Airflow wants).
    """
    path = folder / name
    if path.exists():
        value = path.read_text().strip()
        if kind != "signing-key" or len(value) >= SIGNING_KEY_LENGTH:
            return value
    if kind == "fernet":
        value = base64.urlsafe_b64encode(os.urandom(32)).decode()
    elif kind == "signing-key":
        value = secrets.token_urlsafe(SIGNING_KEY_LENGTH * 3 // 4)
    else:
        value = secrets.token_urlsafe(24)
    _write_private(path, value)
    return value


def write_private(path: Path, value: str) -> None:
    """Write VALUE to PATH readable by the owner only."""
    _write_private(path, value)
