"""The background writer: bounded, never blocking, batching, retrying only what may be retried."""

from __future__ import annotations

import time
from typing import Any, Sequence

from routecar.shared.flusher import Flusher
from routecar.shared.scripts import Batch

from .conftest import RedisServer, SharedFactory


async def test_writes_go_in_batches_of_one_round_trip(shared_factory: SharedFactory, redis_client: Any) -> None:
    state = await shared_factory()

    def write(out: Batch, batch: Sequence[int]) -> None:
        for n in batch:
            out.command("INCRBY", "flusher-test", n)

    f: Flusher[int] = Flusher(state.store, "test", write, batch_size=100)
    for _ in range(250):
        assert f.offer(1)
    while len(f):
        assert await f.flush_once()
    assert int(await redis_client.get("flusher-test")) == 250
    assert f.stats()["batches"] == 3 and f.stats()["sent"] == 250


async def test_a_full_queue_drops_and_counts_and_failed_batches_keep_only_retryable_items(
        redis_server: RedisServer, shared_factory: SharedFactory) -> None:
    state = await shared_factory()

    def write(out: Batch, batch: Sequence[int]) -> None:
        for n in batch:
            out.command("INCRBY", "flusher-test", n)

    f: Flusher[int] = Flusher(state.store, "test", write, max_queue=3, batch_size=10, retry=lambda n: n % 2 == 0)
    redis_server.kill()
    started = time.monotonic()
    assert [f.offer(n) for n in range(5)] == [True, True, True, False, False]
    assert time.monotonic() - started < 0.01
    assert not await f.flush_once()
    stats = f.stats()
    assert (stats["queued"], stats["dropped_full"], stats["dropped_failed"], stats["retried"]) == (2, 2, 1, 2)
    await f.close(timeout=0.1)  # Redis still down: what is left is dropped, bounded
    assert f.stats()["queued"] == 0 and not f.offer(9)
