"""The exact answer cache of a route: the same normalized request gets the same answer.

An in-memory LRU bounded by both entry count and bytes (the size of each stored answer
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
from .bounded import BoundedAnswers
from .replay import replay_stream

__all__ = ["CachedAnswer", "ExactCache", "replay_stream"]


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    answer: dict[str, Any]  # a canonical chat.completion, freshly decoded for this caller
    cost_usd: float | None  # what the original answer cost (what this hit saved)
    stored_at: float  # clock() when stored


@dataclass(slots=True)
class _Entry:
    raw: bytes
    cost_usd: float | None
    stored_at: float


class ExactCache(BoundedAnswers):
    def __init__(self, cfg: ExactCacheConfig, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.cfg = cfg
        self._clock = clock

    def get(self, key: bytes) -> CachedAnswer | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        if self._clock() - entry.stored_at >= self.cfg.ttl:
            self._drop(key)
            self.expirations += 1
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return CachedAnswer(orjson.loads(entry.raw), entry.cost_usd, entry.stored_at)

    def put(self, key: bytes, answer: dict[str, Any], cost_usd: float | None, raw: bytes | None = None) -> bool:
        """Store `answer` (`raw`: its JSON, when the caller already has it). False when the
        answer alone exceeds `max_bytes` and so is not stored."""
        data = raw if raw is not None else orjson.dumps(answer)
        if len(data) > self.cfg.max_bytes:
            return False
        if key in self._entries:
            self._drop(key)
        self._add(key, _Entry(data, cost_usd, self._clock()), self.cfg.max_entries, self.cfg.max_bytes)
        return True
