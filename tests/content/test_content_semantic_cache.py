"""The semantic cache: hits on near-identical prompts only, within a scope, bounded and expiring."""

from __future__ import annotations

from typing import Any

from routecar.config.model import SemanticCacheConfig
from routecar.content.semantic_cache import SemanticCache
from routecar.fake.embed import embed_text

DIM = 256


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def answer(text: str) -> dict[str, Any]:
    return {"object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
            "finish_reason": "stop"}]}


def v(text: str) -> list[float]:
    return embed_text(text, DIM)


def cache(clock: Clock | None = None, **kw: Any) -> SemanticCache:
    return SemanticCache(SemanticCacheConfig(model="embed-small", **kw), clock or Clock())


def test_hit_on_a_rephrasing_miss_on_another_question() -> None:
    c = cache(min_similarity=0.8)
    assert c.store(v("How do I reset my password?"), answer("Use the reset link."), 0.001)
    found = c.lookup(v("how do I reset my password"))
    assert found is not None
    hit, similarity = found
    assert hit.answer["choices"][0]["message"]["content"] == "Use the reset link." and hit.cost_usd == 0.001
    assert similarity >= 0.8
    assert c.lookup(v("What are your opening hours?")) is None
    assert (c.stats()["hits"], c.stats()["misses"]) == (1, 1)


def test_threshold_decides() -> None:
    c = cache(min_similarity=0.99)
    c.store(v("How do I reset my password quickly?"), answer("x"), None)
    assert c.lookup(v("How do I reset my password?")) is None  # close, but not that close
    assert c.lookup(v("How do I reset my password quickly?")) is not None


def test_best_match_wins() -> None:
    c = cache(min_similarity=0.5)
    c.store(v("reset my password"), answer("password"), None)
    c.store(v("reset my router"), answer("router"), None)
    found = c.lookup(v("please reset my router"))
    assert found is not None and found[0].answer["choices"][0]["message"]["content"] == "router"


def test_scopes_do_not_mix() -> None:
    c = cache(min_similarity=0.8)
    c.store(v("reset my password"), answer("x"), None, scope=b"system-a")
    assert c.lookup(v("reset my password"), scope=b"system-b") is None
    assert c.lookup(v("reset my password"), scope=b"system-a") is not None


def test_ttl_expires_entries() -> None:
    clock = Clock()
    c = cache(clock, ttl=60.0)
    c.store(v("reset my password"), answer("x"), None)
    clock.now = 59.0
    assert c.lookup(v("reset my password")) is not None
    clock.now = 60.0
    assert c.lookup(v("reset my password")) is None
    stats = c.stats()
    assert (stats["entries"], stats["bytes"], stats["expirations"]) == (0, 0, 1)


def test_bounded_lru() -> None:
    c = cache(max_entries=2, min_similarity=0.99)
    c.store(v("alpha question"), answer("a"), None)
    c.store(v("beta question"), answer("b"), None)
    assert c.lookup(v("alpha question")) is not None  # alpha becomes most recent
    c.store(v("gamma question"), answer("c"), None)
    assert len(c) == 2 and c.stats()["evictions"] == 1
    assert c.lookup(v("beta question")) is None
    assert c.lookup(v("alpha question")) is not None and c.lookup(v("gamma question")) is not None


def test_byte_bound_and_bad_vectors() -> None:
    c = SemanticCache(SemanticCacheConfig(model="m"), Clock(), max_bytes=300)
    assert not c.store([0.0] * DIM, answer("x"), None)  # no direction to compare
    assert not c.store(v("big"), answer("x" * 1000), None)
    assert c.store(v("small"), answer("x"), None)
    assert c.lookup([0.0, 0.0]) is None
    assert c.lookup([1.0, 0.0]) is None  # other dimension: never compared
    c.clear()
    assert len(c) == 0 and c.stats()["bytes"] == 0
