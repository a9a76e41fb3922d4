"""The exact answer cache of a route: the same normalized request gets the same answer.

A BoundedCache bounded by both entry count and bytes (the size of each stored answer
serialized as JSON), with a time-to-live. Answers are stored serialized: the bytes are the size
accounting, and each hit decodes a fresh dict the caller may change (id, headers) without
touching the stored copy. Which requests may use it is `cache_key.is_cacheable`; the caller
stores only successful, complete answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import orjson

from ..config.model import ExactCacheConfig
from .bounded import BoundedCache

__all__ = ["CachedAnswer", "ExactCache"]


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    answer: dict[str, Any]  # a canonical chat.completion, freshly decoded for this caller
    cost_usd: float | None  # what the original answer cost (what this hit saved)
    stored_at: float  # clock() when stored


@dataclass(frozen=True, slots=True)
class _Stored:
    raw: bytes  # the answer as JSON
    cost_usd: float | None


class ExactCache:
    def __init__(self, cfg: ExactCacheConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self._answers: BoundedCache[bytes, _Stored] = BoundedCache(
            cfg.max_entries, max_bytes=cfg.max_bytes, ttl=cfg.ttl, clock=clock)

    def get(self, key: bytes) -> CachedAnswer | None:
        entry = self._answers.lookup(key)
        if entry is None:
            return None
        stored = entry.value
        return CachedAnswer(orjson.loads(stored.raw), stored.cost_usd, entry.stored_at)

    def put(self, key: bytes, answer: dict[str, Any], cost_usd: float | None, raw: bytes | None = None) -> bool:
        """Store `answer` (`raw`: its JSON, when the caller already has it). False when the
        answer alone exceeds `max_bytes` and so is not stored."""
        data = raw if raw is not None else orjson.dumps(answer)
        return self._answers.put(key, _Stored(data, cost_usd), len(data))

    def __len__(self) -> int:
        return len(self._answers)

    def clear(self) -> None:
        self._answers.clear()

    def stats(self) -> dict[str, int]:
        """hits, misses, evictions, expirations, bytes, entries."""
        return self._answers.stats()
