"""A small LRU cache keyed by a digest of the text, with hit/miss counters."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


def text_key(text: str) -> bytes:
    """A 128-bit BLAKE2b digest of the UTF-8 text: a compact key for long reference answers."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass(frozen=True)
class CacheInfo:
    hits: int
    misses: int
    size: int
    maxsize: int


class TextLRU(Generic[V]):
    """Maps texts (by digest) to values, evicting the least recently used beyond `maxsize`.

    `maxsize == 0` disables the cache: `get` always misses and `put` stores nothing.
    Thread-safe.
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 0:
            raise ValueError(f"maxsize must be >= 0, got {maxsize}")
        self._maxsize = maxsize
        self._data: OrderedDict[bytes, V] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get(self, text: str) -> V | None:
        key = text_key(text)
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self._misses += 1
                return None
            self._data.move_to_end(key)
            self._hits += 1
            return value

    def put(self, text: str, value: V) -> None:
        if self._maxsize == 0:
            return
        key = text_key(text)
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, len(self._data), self._maxsize)

    def __len__(self) -> int:
        return len(self._data)
