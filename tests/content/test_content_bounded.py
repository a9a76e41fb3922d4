"""The one bounded cache behind the answer caches and the classifiers' memos: LRU order, the
entry and byte bounds, expiry on an injected clock, and its counters."""

from __future__ import annotations

import pytest

from routecar.content.bounded import BoundedCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_least_recently_used_goes_first() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # b is now the least recently used
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert cache.stats() == {"hits": 3, "misses": 1, "evictions": 1, "expirations": 0, "bytes": 0, "entries": 2}


def test_byte_bound_evicts_and_refuses_what_cannot_fit_alone() -> None:
    cache: BoundedCache[str, str] = BoundedCache(100, max_bytes=10)
    assert cache.put("a", "x", 4) and cache.put("b", "y", 4)
    assert cache.put("c", "z", 4)  # 12 > 10: a goes
    assert [k for k, _ in cache.items()] == ["b", "c"] and cache.bytes == 8
    assert not cache.put("b", "huge", 11)  # refused: the old b stays
    assert cache.get("b") == "y" and cache.bytes == 8
    assert cache.put("b", "yy", 6)  # replacing a key is not an eviction
    assert cache.bytes == 10 and cache.evictions == 1


def test_entries_expire_ttl_seconds_after_they_were_stored() -> None:
    clock = Clock()
    cache: BoundedCache[str, int] = BoundedCache(10, ttl=60.0, clock=clock)
    cache.put("a", 1)
    clock.now = 30.0
    cache.put("b", 2)
    clock.now = 59.0
    entry = cache.lookup("a")
    assert entry is not None and (entry.value, entry.stored_at) == (1, 0.0)
    clock.now = 60.0
    assert cache.get("a") is None  # a read does not extend the ttl
    assert (cache.expirations, cache.misses, len(cache)) == (1, 1, 1)
    clock.now = 90.0
    cache.sweep()
    assert len(cache) == 0 and cache.expirations == 2


def test_without_ttl_nothing_expires() -> None:
    clock = Clock()
    cache: BoundedCache[str, int] = BoundedCache(10, clock=clock)
    cache.put("a", 1)
    clock.now = 1e9
    cache.sweep()
    assert cache.get("a") == 1


def test_clear_and_bad_bounds() -> None:
    cache: BoundedCache[str, int] = BoundedCache(10, max_bytes=100)
    cache.put("a", 1, 50)
    cache.count_miss()
    cache.clear()
    assert len(cache) == 0 and cache.bytes == 0 and cache.misses == 1
    with pytest.raises(ValueError):
        BoundedCache(0)
