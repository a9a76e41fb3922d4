"""The exact cache: TTL, entry and byte bounds, LRU order, stats."""

from __future__ import annotations

from typing import Any

import orjson

from routecar.config.model import ExactCacheConfig
from routecar.content.exact_cache import ExactCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def answer(content: str | None = "Hello there, how can I help you today?", **message: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-abc", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",
        "system_fingerprint": "fp_x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, **message},
                     "finish_reason": "tool_calls" if "tool_calls" in message else "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 8, "total_tokens": 17},
    }


def test_hit_miss_and_ttl() -> None:
    clock = Clock()
    cache = ExactCache(ExactCacheConfig(ttl=60.0), clock)
    assert cache.get(b"k") is None
    cache.put(b"k", answer(), 0.002)
    clock.now += 59
    hit = cache.get(b"k")
    assert hit is not None and hit.answer == answer() and hit.cost_usd == 0.002 and hit.stored_at == 100.0
    clock.now += 1
    assert cache.get(b"k") is None  # expired: gone
    assert cache.stats() == {"hits": 1, "misses": 2, "evictions": 0, "expirations": 1, "bytes": 0, "entries": 0}


def test_hits_are_private_copies() -> None:
    cache = ExactCache(ExactCacheConfig())
    cache.put(b"k", answer(), None)
    first = cache.get(b"k")
    assert first is not None
    first.answer["id"] = "changed"
    second = cache.get(b"k")
    assert second is not None and second.answer["id"] == "chatcmpl-abc"


def test_entry_bound_evicts_least_recently_used() -> None:
    cache = ExactCache(ExactCacheConfig(max_entries=3))
    for key in (b"a", b"b", b"c"):
        cache.put(key, answer(key.decode()), None)
    assert cache.get(b"a") is not None  # a is now the most recent; b the least
    cache.put(b"d", answer("d"), None)
    assert cache.get(b"b") is None
    assert all(cache.get(k) is not None for k in (b"a", b"c", b"d"))
    assert cache.stats()["entries"] == 3 and cache.stats()["evictions"] == 1


def test_byte_bound() -> None:
    one = len(orjson.dumps(answer("x" * 100)))
    cache = ExactCache(ExactCacheConfig(max_entries=100, max_bytes=one * 2 + 10))
    for key in (b"a", b"b", b"c"):
        assert cache.put(key, answer("x" * 100), None)
    assert len(cache) == 2 and cache.stats()["bytes"] == one * 2 and cache.get(b"a") is None
    assert not cache.put(b"huge", answer("x" * 10_000), None)  # alone over the bound: not stored
    assert len(cache) == 2 and cache.get(b"huge") is None


def test_replacing_a_key_keeps_bytes_right() -> None:
    cache = ExactCache(ExactCacheConfig())
    cache.put(b"k", answer("short"), None)
    cache.put(b"k", answer("a much longer answer"), 0.1, raw=orjson.dumps(answer("a much longer answer")))
    assert len(cache) == 1 and cache.stats()["bytes"] == len(orjson.dumps(answer("a much longer answer")))
    cache.clear()
    assert len(cache) == 0 and cache.stats()["bytes"] == 0

