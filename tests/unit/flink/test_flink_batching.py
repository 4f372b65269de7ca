"""The micro-batcher: batches what arrives while a batch is scored, never calls fn concurrently,
hands errors to the waiters of the failed batch only."""

from __future__ import annotations

import asyncio
import threading

import pytest

from flink.batching import MicroBatcher


class Recorder:
    """fn(items) -> [item * 10]; records every batch; can hold the first batch until released."""

    def __init__(self, *, hold_first: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.hold_first = hold_first
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def __call__(self, items: list[int]) -> list[int]:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            self.batches.append(list(items))
            self.started.set()
            if self.hold_first and len(self.batches) == 1:
                assert self.release.wait(5), "test never released the first batch"
            return [i * 10 for i in items]
        finally:
            with self._lock:
                self.active -= 1


def test_records_submitted_together_are_batched_up_to_max_batch():
    fn = Recorder()
    batcher = MicroBatcher(fn, max_batch=4)

    async def run():
        return await asyncio.gather(*(batcher.submit(i) for i in range(10)))

    try:
        assert asyncio.run(run()) == [i * 10 for i in range(10)]
    finally:
        batcher.close()
    assert fn.batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert (batcher.stats.batches, batcher.stats.items, batcher.stats.largest) == (3, 10, 4)


def test_an_idle_batcher_scores_a_lone_record_at_once():
    fn = Recorder()
    batcher = MicroBatcher(fn, max_batch=64)
    try:
        assert asyncio.run(batcher.submit(7)) == 70
    finally:
        batcher.close()
    assert fn.batches == [[7]]


def test_records_arriving_during_a_batch_form_the_next_batch():
    fn = Recorder(hold_first=True)
    batcher = MicroBatcher(fn, max_batch=64)

    async def run():
        loop = asyncio.get_running_loop()
        first = asyncio.ensure_future(batcher.submit(1))
        assert await loop.run_in_executor(None, fn.started.wait, 5)
        later = [asyncio.ensure_future(batcher.submit(i)) for i in range(2, 7)]
        await asyncio.sleep(0)  # let them queue
        fn.release.set()
        return await first, await asyncio.gather(*later)

    try:
        first, later = asyncio.run(run())
    finally:
        batcher.close()
    assert (first, later) == (10, [20, 30, 40, 50, 60])
    assert fn.batches == [[1], [2, 3, 4, 5, 6]]
    assert fn.max_active == 1  # never two batches at once


def test_a_failing_batch_fails_its_own_waiters_only():
    calls: list[list[int]] = []

    def fn(items: list[int]) -> list[int]:
        calls.append(items)
        if 3 in items:
            raise ValueError("boom")
        return items

    batcher = MicroBatcher(fn, max_batch=2)

    async def run():
        return await asyncio.gather(*(batcher.submit(i) for i in range(6)), return_exceptions=True)

    try:
        results = asyncio.run(run())
    finally:
        batcher.close()
    assert calls == [[0, 1], [2, 3], [4, 5]]
    assert results[:2] == [0, 1] and results[4:] == [4, 5]
    assert all(isinstance(r, ValueError) for r in results[2:4])


def test_a_result_count_mismatch_is_an_error():
    batcher = MicroBatcher(lambda items: items[:-1], max_batch=8)

    async def run():
        return await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)

    try:
        results = asyncio.run(run())
    finally:
        batcher.close()
    assert all(isinstance(r, RuntimeError) for r in results)


def test_max_batch_must_be_positive():
    with pytest.raises(ValueError):
        MicroBatcher(lambda items: items, max_batch=0)
