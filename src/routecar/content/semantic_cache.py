"""The semantic answer cache of a route: a new prompt close enough in meaning to a stored one
gets the stored answer.

Risks, and why this cache is off unless a route asks for it:
- False hits. Embeddings place "cancel my order" and "don't cancel my order", or "convert 10
  USD to EUR" and "convert 10 EUR to USD", close together; the second request then gets the
  first one's answer, silently and confidently wrong. Only a high `min_similarity` (the default
  is 0.95) keeps this rare, and no threshold makes it impossible. Use it for FAQ-style traffic
  where near-duplicates really want the same answer, never for transactional prompts.
- Scope. Only the last user message is compared; everything else (system prompt, history,
  tools, parameters) must be equal, through the `scope` key (`cache_key.semantic_scope`), so
  a stored answer never crosses to a request with a different context.
- Determinism. Like the exact cache, it serves only requests that are deterministic
  (temperature 0) or that opted in (`x-routecar-cache: use`), see `cache_key.is_cacheable`.
- Cost. A lookup needs an embedding call on every cacheable request, hit or miss.

Lookups scan every entry: with vectors of a few hundred floats and at most a few thousand
entries that is a few milliseconds at worst, less than the embedding call in front of it, and
far simpler than an approximate index. Keep `max_entries` in the low thousands.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any, Callable

import orjson

from ..config.model import SemanticCacheConfig
from .bounded import BoundedAnswers
from .exact_cache import CachedAnswer
from .vectors import dot, normalize

# The config bounds entries; bytes are bounded here so one route cannot hold gigabytes.
DEFAULT_MAX_BYTES = 32 * 1024 * 1024


@dataclass(slots=True)
class _Entry:
    vector: list[float]
    scope: bytes
    raw: bytes
    cost_usd: float | None
    stored_at: float


class SemanticCache(BoundedAnswers):
    def __init__(self, cfg: SemanticCacheConfig, clock: Callable[[], float] = time.monotonic,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        super().__init__()
        self.cfg = cfg
        self.max_bytes = max_bytes
        self._clock = clock
        self._ids = itertools.count()

    def lookup(self, vector: list[float], scope: bytes = b"") -> tuple[CachedAnswer, float] | None:
        """The stored answer most similar to `vector` within `scope`, with its cosine, when that
        cosine is at least `min_similarity`; expired entries met on the way are dropped."""
        query = normalize(vector)
        if query is None:
            self.misses += 1
            return None
        now = self._clock()
        expired: list[int] = []
        best_id, best = -1, -2.0
        for entry_id, entry in self._entries.items():
            if now - entry.stored_at >= self.cfg.ttl:
                expired.append(entry_id)
            elif entry.scope == scope and len(entry.vector) == len(query):
                similarity = dot(query, entry.vector)
                if similarity > best:
                    best_id, best = entry_id, similarity
        for entry_id in expired:
            self._drop(entry_id)
        self.expirations += len(expired)
        if best_id < 0 or best < self.cfg.min_similarity:
            self.misses += 1
            return None
        self._entries.move_to_end(best_id)
        self.hits += 1
        found = self._entries[best_id]
        return CachedAnswer(orjson.loads(found.raw), found.cost_usd, found.stored_at), best

    def store(self, vector: list[float], answer: dict[str, Any], cost_usd: float | None,
              scope: bytes = b"", raw: bytes | None = None) -> bool:
        """Remember `answer` for prompts near `vector`; False when the vector is unusable or the
        answer alone is over the byte bound."""
        unit = normalize(vector)
        data = raw if raw is not None else orjson.dumps(answer)
        if unit is None or len(data) > self.max_bytes:
            return False
        self._add(next(self._ids), _Entry(unit, scope, data, cost_usd, self._clock()),
                  self.cfg.max_entries, self.max_bytes)
        return True

