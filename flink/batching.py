"""Adaptive micro-batching for the Flink job's async scoring operator.

PyFlink hands an async function one record at a time (``async_invoke``) but many of them in a
burst (a whole input bundle), and keeps up to ``capacity`` in flight. :class:`MicroBatcher`
turns that into batches: while a batch is being scored in the worker thread, the records that
arrive queue up and become the next batch (at most ``max_batch``). There is no timer: an idle
batcher scores the first record at once (batch of one, no added latency), a busy one batches
as much as the load gives it. This is what makes the embedding scorer fast (one forward pass
per batch) without a window or keyed state.

It is checkpoint-safe as used in the job: Flink's async operator finishes every in-flight
record before a checkpoint barrier passes, so no record sits only in this queue at a checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["BatchStats", "MicroBatcher"]


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    largest: int = 0

    @property
    def mean_size(self) -> float:
        return self.items / self.batches if self.batches else 0.0


class MicroBatcher(Generic[T, R]):
    """``await batcher.submit(item)`` -> the result of ``fn`` for that item.

    ``fn(items) -> results`` (same length, same order) runs in ``executor`` (by default one
    dedicated thread, so ``fn`` is never called concurrently). If ``fn`` raises, every item of
    that batch gets the exception. Use from one event loop.
    """

    def __init__(
        self,
        fn: Callable[[list[T]], Sequence[R]],
        *,
        max_batch: int = 64,
        executor: Executor | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self._fn = fn
        self.max_batch = max_batch
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix="scoring")
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._draining = False
        self._drainer: asyncio.Task[None] | None = None  # referenced so it is not collected
        self.stats = BatchStats()

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if not self._draining:
            self._draining = True
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                items = [item for item, _ in batch]
                try:
                    results = await loop.run_in_executor(self._executor, self._fn, items)
                    if len(results) != len(items):
                        raise RuntimeError(f"{len(results)} results for a batch of {len(items)}")
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                self.stats.batches += 1
                self.stats.items += len(items)
                self.stats.largest = max(self.stats.largest, len(items))
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._draining = False

    def close(self) -> None:
        """Stop the batcher's own thread (an executor passed in is left alone)."""
        if self._own_executor:
            self._executor.shutdown(wait=True)
