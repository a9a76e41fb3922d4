"""The exact cache: TTL, entry and byte bounds, LRU order, stats, and stream replay."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from routecar.config.model import ExactCacheConfig
from routecar.content.exact_cache import ExactCache, replay_stream
from routecar.content.replay import split_text


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
    assert cache.entries == 3 and cache.evictions == 1


def test_byte_bound() -> None:
    one = len(orjson.dumps(answer("x" * 100)))
    cache = ExactCache(ExactCacheConfig(max_entries=100, max_bytes=one * 2 + 10))
    for key in (b"a", b"b", b"c"):
        assert cache.put(key, answer("x" * 100), None)
    assert cache.entries == 2 and cache.bytes == one * 2 and cache.get(b"a") is None
    assert not cache.put(b"huge", answer("x" * 10_000), None)  # alone over the bound: not stored
    assert cache.entries == 2 and cache.get(b"huge") is None


def test_replacing_a_key_keeps_bytes_right() -> None:
    cache = ExactCache(ExactCacheConfig())
    cache.put(b"k", answer("short"), None)
    cache.put(b"k", answer("a much longer answer"), 0.1, raw=orjson.dumps(answer("a much longer answer")))
    assert cache.entries == 1 and cache.bytes == len(orjson.dumps(answer("a much longer answer")))
    cache.clear()
    assert cache.entries == 0 and cache.bytes == 0


def _content(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_replay_stream_content() -> None:
    a = answer("The quick brown fox jumps over the lazy dog, twice, and then once more.")
    chunks = replay_stream(a)
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "chatcmpl-abc" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert _content(chunks) == a["choices"][0]["message"]["content"]
    assert 2 < len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) <= 4
    finish = chunks[-2]["choices"][0]
    assert finish["delta"] == {} and finish["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == a["usage"]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-2])
    assert "usage" not in replay_stream(a, include_usage=False)[-1]


def test_replay_stream_tool_calls() -> None:
    calls = [{"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris", "unit": "c"}'}},
             {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": "{}"}}]
    chunks = replay_stream(answer(None, tool_calls=calls))
    rebuilt: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for delta in (chunk["choices"][0]["delta"].get("tool_calls") or []) if chunk["choices"] else []:
            slot = rebuilt.setdefault(delta["index"], {"id": None, "name": None, "arguments": ""})
            slot["id"] = delta.get("id") or slot["id"]
            fn = delta.get("function") or {}
            slot["name"] = fn.get("name") or slot["name"]
            slot["arguments"] += fn.get("arguments") or ""
    assert rebuilt == {0: {"id": "call_1", "name": "weather", "arguments": '{"city": "Paris", "unit": "c"}'},
                       1: {"id": "call_2", "name": "time", "arguments": "{}"}}
    assert _content(chunks) == ""
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


@given(st.text(max_size=300), st.integers(min_value=1, max_value=8))
def test_split_text_is_lossless(text: str, pieces: int) -> None:
    parts = split_text(text, pieces)
    assert "".join(parts) == text and len(parts) <= max(1, pieces)
