"""How a request carries the dataset's reference answer to the simulator's quality model.

The reference rides in an extra HTTP header, ``X-Harness-Reference``: base64 of its UTF-8 bytes
(headers must be ASCII), truncated to :data:`MAX_REFERENCE_BYTES` first. A header was chosen over a
body field because real providers reject unknown body fields (OpenAI answers 400 "Unrecognized
request argument") and cap ``metadata`` values at 512 characters, while every provider ignores an
unknown header.
"""

from __future__ import annotations

import base64
import binascii

REFERENCE_HEADER = "X-Harness-Reference"
MAX_REFERENCE_BYTES = 4096


def encode_reference(reference: str) -> str:
    raw = reference.encode("utf-8")[:MAX_REFERENCE_BYTES]
    # Do not cut a multi-byte character in half.
    text = raw.decode("utf-8", errors="ignore")
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def decode_reference(value: str | None) -> str | None:
    """The reference from the header value; None if absent or not valid base64 UTF-8."""
    if not value:
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
