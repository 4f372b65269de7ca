"""Reference embeddings on disk: kept across scoring-job restarts, shared by the job's workers.

A reference answer is the dataset's, fixed per question, so its embedding is data derived once:
a run that asks questions an earlier run (of this job or of any earlier one) already scored
needs to encode only the answers, half the model's work per pair. The in-memory LRU
(`flink.scoring.cache.TextLRU`) serves repeats within one job's life; this store serves them
after a restart (`harness down`/`up`, a failover, a new parallelism) and across the job's
parallel workers.

One SQLite file (write-ahead log, so workers in several processes read while one writes), one
table of (namespace, text digest) -> float32 vector. The namespace is the model's fingerprint
(`model_fingerprint`): other weights, another tokenizer, another truncation length or int8
projections never read vectors they did not compute. Answers are never stored: an LLM's
answers differ from run to run, and a benchmark of the pipeline must pay for encoding them.

The store never fails scoring: a file that cannot be opened, read or written is logged once
and the scorer goes on without it (encoding what it would have read).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    namespace TEXT NOT NULL,
    digest BLOB NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (namespace, digest)
) WITHOUT ROWID
"""
_LOOKUP_CHUNK = 500  # digests per SELECT ... IN (...): below SQLite's 999-parameter floor


def model_fingerprint(files: Iterable[Path], *settings: str) -> str:
    """A digest of the model files' bytes and the settings that change its vectors (e.g. the
    truncation length, the weight format): the store's namespace for that model."""
    h = hashlib.blake2b(digest_size=16)
    for path in files:
        with path.open("rb") as f:
            h.update(hashlib.file_digest(f, "blake2b").digest())
    for setting in settings:
        h.update(b"\0" + setting.encode())
    return h.hexdigest()


@dataclass(frozen=True)
class StoreInfo:
    """What the store did for this process: lookups answered, lookups missed, vectors written,
    and why it is off (None while it works)."""

    hits: int
    misses: int
    written: int
    disabled: str | None


class EmbeddingStore:
    """Vectors of `dim` float32 by 16-byte text digest (`flink.scoring.cache.text_key`).

    Parameters:
        path: the SQLite file (created with its folder if missing).
        namespace: the model fingerprint the vectors belong to.
        dim: vector length; rows of another length are ignored (treated as missing).
        max_rows: the file stops growing at this many rows (over all namespaces); lookups go on.
        timeout_s: how long a write waits for another process's write to finish.

    Thread-safe; opened lazily on first use.
    """

    def __init__(
        self,
        path: Path,
        namespace: str,
        dim: int,
        *,
        max_rows: int = 250_000,
        timeout_s: float = 5.0,
    ) -> None:
        self.path = path
        self.namespace = namespace
        self.dim = dim
        self.max_rows = max_rows
        self.timeout_s = timeout_s
        self._conn: sqlite3.Connection | None = None
        self._rows: int | None = None  # rows in the file, as of opening plus our own writes
        self._lock = threading.Lock()
        self._hits = self._misses = self._written = 0
        self._disabled: str | None = None

    def get_many(self, digests: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The stored vectors among `digests` (missing ones are absent from the result)."""
        if not digests:
            return {}
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            conn = self._connection()
            if conn is None:
                return found
            try:
                for start in range(0, len(digests), _LOOKUP_CHUNK):
                    chunk = list(digests[start : start + _LOOKUP_CHUNK])
                    marks = ",".join("?" * len(chunk))
                    rows = conn.execute(
                        "SELECT digest, vector FROM embeddings "  # only placeholders are formatted in
                        f"WHERE namespace = ? AND digest IN ({marks})",
                        [self.namespace, *chunk],
                    ).fetchall()
                    for digest, blob in rows:
                        if len(blob) == 4 * self.dim:
                            found[bytes(digest)] = np.frombuffer(blob, dtype=np.float32)
            except sqlite3.Error as exc:
                self._disable(f"cannot read {self.path}: {exc}")
                return {}
            self._hits += len(found)
            self._misses += len(set(digests)) - len(found)
        return found

    def put_many(self, vectors: Mapping[bytes, np.ndarray]) -> int:
        """Stores the vectors (first writer wins for a digest); returns how many were new."""
        if not vectors:
            return 0
        with self._lock:
            conn = self._connection()
            if conn is None or self._rows is None:
                return 0
            room = self.max_rows - self._rows
            if room <= 0:
                return 0
            items = list(vectors.items())[:room]
            try:
                with conn:  # one transaction
                    before = conn.total_changes
                    conn.executemany(
                        "INSERT OR IGNORE INTO embeddings (namespace, digest, vector) "
                        "VALUES (?, ?, ?)",
                        [
                            (self.namespace, digest, np.asarray(v, dtype=np.float32).tobytes())
                            for digest, v in items
                        ],
                    )
                    added = conn.total_changes - before
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    self._disable(f"cannot write {self.path}: {exc}")
                    return 0
                # another process held the write lock past timeout_s: these vectors are
                # encoded again next time, the store stays on
                log.warning("reference store %s busy, %d vectors not kept", self.path, len(items))
                return 0
            except sqlite3.Error as exc:
                self._disable(f"cannot write {self.path}: {exc}")
                return 0
            self._written += added
            self._rows += added
            if self._rows >= self.max_rows:
                log.warning(
                    "reference store %s is full (%d rows, max_rows): new references are encoded "
                    "in every job run from now on",
                    self.path,
                    self._rows,
                )
            return added

    def info(self) -> StoreInfo:
        with self._lock:
            return StoreInfo(self._hits, self._misses, self._written, self._disabled)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> sqlite3.Connection | None:
        """The open connection (opened now if not yet), or None once the store is disabled."""
        if self._disabled is not None:
            return None
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, timeout=self.timeout_s, check_same_thread=False, isolation_level=None
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")  # derived data: a lost tail is re-encoded
                conn.execute(_SCHEMA)
                (rows,) = conn.execute("SELECT count(*) FROM embeddings").fetchone()
                conn.isolation_level = ""  # `with conn:` opens and commits transactions
            except (OSError, sqlite3.Error) as exc:
                self._disable(f"cannot open {self.path}: {exc}")
                return None
            self._conn, self._rows = conn, int(rows)
            log.info("reference store %s: %d rows (namespace %s)", self.path, rows, self.namespace)
        return self._conn

    def _disable(self, reason: str) -> None:
        self._disabled = reason
        log.warning("reference store off for this process, references are encoded: %s", reason)
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                log.debug("closing %s failed", self.path, exc_info=True)
            self._conn = None
