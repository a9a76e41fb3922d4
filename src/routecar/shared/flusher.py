"""Writes that no request waits for (reconciles, token counts, cache stores), batched.

A request hands its write to `offer`, which only appends to a bounded queue: when the queue is
full the write is dropped and counted, so a slow or absent Redis never holds a request or
grows memory. One background task sends what has gathered as one pipeline (one round trip
for up to `batch_size` writes). A batch that could not be sent is retried when its items say
so (`retry`; a reconcile is retried while its reservation lives, since replaying it is
harmless until then), else dropped and counted; meanwhile the task waits for Redis to be back
rather than spinning.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Callable, Generic, Sequence, TypeVar

from .results import Unavailable
from .scripts import Batch
from .store import SharedStore

T = TypeVar("T")
log = logging.getLogger("routecar.shared")
# Longest an idle or waiting flusher sleeps before looking again (whether it was closed).
_IDLE_WAIT = 1.0


class Flusher(Generic[T]):
    def __init__(self, store: SharedStore, name: str, write: Callable[[Batch, Sequence[T]], None], *,
                 max_queue: int = 10_000, batch_size: int = 100, linger: float = 0.02,
                 retry: Callable[[T], bool] | None = None) -> None:
        self.store = store
        self.name = name
        self._write = write  # queues a batch's commands
        self.max_queue = max_queue
        self.batch_size = batch_size
        # A moment for the writes of the next requests to join the batch: at 200 requests a
        # second, 20 ms gathers the writes of about four into one round trip. Nothing waits on
        # them: a reservation holds the estimate until its reconcile lands, a cache entry is
        # merely missed a moment longer by the other pods.
        self.linger = linger
        self._retry = retry
        self._queue: deque[T] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._bug_logged = False
        self.counts: dict[str, int] = {"sent": 0, "batches": 0, "errors": 0, "dropped_full": 0,
                                       "dropped_failed": 0, "retried": 0}

    def __len__(self) -> int:
        return len(self._queue)

    def offer(self, item: T) -> bool:
        """Queue one write; False (counted) when the queue is full or closed. Never blocks."""
        if self._closed or len(self._queue) >= self.max_queue:
            self.counts["dropped_full"] += 1
            return False
        self._queue.append(item)
        if not self._wake.is_set():
            self._wake.set()
        return True

    def stats(self) -> dict[str, int]:
        return {"queued": len(self._queue), **self.counts}

    async def flush_once(self) -> bool:
        """Send one batch; False when Redis could not take it."""
        if not self._queue:
            return True
        batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]

        def fill(out: Batch) -> None:
            self._write(out, batch)

        try:
            results = await self.store.pipeline(fill)
        except Exception:
            # A bug, not Redis (the store turns Redis' failures into UNAVAILABLE): the batch is
            # dropped and counted, and the writer lives on.
            self.counts["errors"] += len(batch)
            if not self._bug_logged:
                self._bug_logged = True
                log.exception("shared state: a batch of writes could not be built", extra={"writer": self.name})
            return True
        if isinstance(results, Unavailable):
            self._requeue(batch)
            return False
        self.counts["batches"] += 1
        self.counts["sent"] += len(batch)
        self.counts["errors"] += sum(1 for r in results if isinstance(r, Exception))
        return True

    def _requeue(self, batch: list[T]) -> None:
        keep = [item for item in batch if self._retry is not None and self._retry(item)]
        room = max(0, self.max_queue - len(self._queue))
        kept = keep[:room]
        self.counts["dropped_failed"] += len(batch) - len(kept)
        self.counts["retried"] += len(kept)
        # Back at the front, in their order: they are older than anything queued since.
        self._queue.extendleft(reversed(kept))

    async def _run(self) -> None:
        while not self._closed:
            if not self._queue:
                self._wake.clear()
                try:
                    async with asyncio.timeout(_IDLE_WAIT):  # no task per wait, unlike wait_for
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue
            if self.linger:
                await asyncio.sleep(self.linger)
            if not await self.flush_once():
                await self.store.wait_available(_IDLE_WAIT)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"shared-{self.name}")

    async def close(self, timeout: float) -> None:
        """Stop, then send what is queued while Redis is available, within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        self._closed = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            await asyncio.wait({task}, timeout=timeout)
            if not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.1)
        while self._queue and self.store.available and time.monotonic() < deadline:
            if not await self.flush_once():
                break
        self.counts["dropped_failed"] += len(self._queue)
        self._queue.clear()
