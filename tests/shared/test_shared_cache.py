"""The shared exact cache: one copy for the fleet, its bounds enforced in Redis."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from routecar.shared.results import UNAVAILABLE

from .conftest import RedisServer, SharedFactory

ROUTE = "support"
DATA, IDX, BYTES = (f"routecar:v1:cache:{{{ROUTE}}}:{part}" for part in ("data", "idx", "bytes"))


async def stored(*states: Any) -> None:
    """Wait until every queued store has been sent."""
    deadline = time.monotonic() + 2
    while any(s.cache.stats()["put_queue"]["queued"] for s in states):
        assert time.monotonic() < deadline, "stores still queued"
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.02)


async def test_one_pods_answer_serves_another(shared_factory: SharedFactory) -> None:
    a, b = await shared_factory(), await shared_factory()
    assert await b.cache.get(ROUTE, b"key-1", 60) is None
    assert a.cache.put(ROUTE, b"key-1", b'{"answer": 1}', 60, 100, 10_000)
    await stored(a)
    assert await b.cache.get(ROUTE, b"key-1", 60) == b'{"answer": 1}'
    assert await b.cache.get("other-route", b"key-1", 60) is None
    assert b.cache.stats()["hits"] == 1 and b.cache.stats()["misses"] == 2


async def test_the_entry_bound_evicts_the_oldest_stores(shared_factory: SharedFactory, redis_client: Any) -> None:
    a = await shared_factory()
    for i in range(5):
        a.cache.put(ROUTE, f"k{i}".encode(), f"v{i}".encode(), 60, 3, 10_000)
        await stored(a)  # one by one: distinct store times
    got = [await a.cache.get(ROUTE, f"k{i}".encode(), 60) for i in range(5)]
    assert got == [None, None, b"v2", b"v3", b"v4"]
    assert await redis_client.hlen(DATA) == 3 and await redis_client.zcard(IDX) == 3


async def test_the_byte_bound_holds_and_replacing_an_entry_counts_it_once(
        shared_factory: SharedFactory, redis_client: Any) -> None:
    a = await shared_factory()
    for i in range(4):
        a.cache.put(ROUTE, f"k{i}".encode(), bytes(40), 60, 100, 100)
        await stored(a)
    assert await redis_client.hlen(DATA) == 2 and int(await redis_client.get(BYTES)) == 80
    a.cache.put(ROUTE, b"k3", bytes(30), 60, 100, 100)  # same key, new answer
    await stored(a)
    assert int(await redis_client.get(BYTES)) == 70 and await redis_client.hlen(DATA) == 2
    assert not a.cache.put(ROUTE, b"big", bytes(101), 60, 100, 100), "larger than the bound alone: not stored"
    assert a.cache.stats()["too_large"] == 1


async def test_entries_expire_and_the_next_store_sweeps_them(shared_factory: SharedFactory,
                                                              redis_client: Any) -> None:
    a = await shared_factory()
    a.cache.put(ROUTE, b"old", b"v", 0.15, 100, 10_000)
    await stored(a)
    assert await a.cache.get(ROUTE, b"old", 0.15) == b"v"
    assert 0 < await redis_client.pttl(DATA) <= 150  # the route's keys go after the newest ttl
    await asyncio.sleep(0.2)
    assert await a.cache.get(ROUTE, b"old", 0.15) is None
    a.cache.put(ROUTE, b"new", b"wx", 0.15, 100, 10_000)
    await stored(a)
    assert len(await redis_client.hkeys(DATA)) == 1 and int(await redis_client.get(BYTES)) == 2


async def test_a_reader_with_a_shorter_ttl_never_serves_older_answers(shared_factory: SharedFactory) -> None:
    a = await shared_factory()
    a.cache.put(ROUTE, b"k", b"v", 60, 100, 10_000)
    await stored(a)
    await asyncio.sleep(0.12)
    assert await a.cache.get(ROUTE, b"k", 0.1) is None
    assert await a.cache.get(ROUTE, b"k", 60) == b"v"


async def test_keys_are_hashed_under_the_prefix(shared_factory: SharedFactory, redis_client: Any) -> None:
    a = await shared_factory(prefix="team-a:")
    a.cache.put(ROUTE, b"my passport number is 123", b"answer", 60, 100, 10_000)
    await stored(a)
    keys = sorted(k.decode() for k in await redis_client.keys("*"))
    assert keys == [f"team-a:v1:cache:{{{ROUTE}}}:{p}" for p in ("bytes", "data", "idx")]
    fields = await redis_client.hkeys(keys[1])
    assert len(fields) == 1 and len(fields[0]) == 64 and b"passport" not in fields[0]


async def test_a_down_redis_is_a_miss_the_caller_sees(redis_server: RedisServer,
                                                      shared_factory: SharedFactory) -> None:
    a = await shared_factory()
    redis_server.kill()
    assert await a.cache.get(ROUTE, b"k", 60) is UNAVAILABLE
    started = time.monotonic()
    a.cache.put(ROUTE, b"k", b"v", 60, 100, 10_000)
    assert time.monotonic() - started < 0.01
    await asyncio.sleep(0.05)
    queue = a.cache.stats()["put_queue"]
    assert queue["queued"] == 0 and queue["dropped_failed"] == 1, "a lost store is only a future miss"
