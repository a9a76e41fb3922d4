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
from .bounded import BoundedCache
from .exact_cache import CachedAnswer
from .vectors import dot, normalize

# The config bounds entries; bytes are bounded here so one route cannot hold gigabytes.
DEFAULT_MAX_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Stored:
    vector: list[float]  # unit length
    scope: bytes
    raw: bytes  # the answer as JSON
    cost_usd: float | None


class SemanticCache:
    def __init__(self, cfg: SemanticCacheConfig, clock: Callable[[], float] = time.monotonic,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.cfg = cfg
        self.max_bytes = max_bytes
        self._answers: BoundedCache[int, _Stored] = BoundedCache(
            cfg.max_entries, max_bytes=max_bytes, ttl=cfg.ttl, clock=clock)
        self._ids = itertools.count()

    def lookup(self, vector: list[float], scope: bytes = b"") -> tuple[CachedAnswer, float] | None:
        """The stored answer most similar to `vector` within `scope`, with its cosine, when that
        cosine is at least `min_similarity`; expired entries are dropped first."""
        answers = self._answers
        query = normalize(vector)
        if query is None:
            answers.count_miss()
            return None
        answers.sweep()
        best_id, best = -1, -2.0
        for entry_id, entry in answers.items():
            stored = entry.value
            if stored.scope == scope and len(stored.vector) == len(query):
                similarity = dot(query, stored.vector)
                if similarity > best:
                    best_id, best = entry_id, similarity
        if best_id < 0 or best < self.cfg.min_similarity:
            answers.count_miss()
            return None
        # Counts the hit and makes the entry the most recently used (or a miss, should its ttl
        # pass between the sweep and now).
        found = answers.lookup(best_id)
        if found is None:
            return None
        stored = found.value
        return CachedAnswer(orjson.loads(stored.raw), stored.cost_usd, found.stored_at), best

    def store(self, vector: list[float], answer: dict[str, Any], cost_usd: float | None,
              scope: bytes = b"", raw: bytes | None = None) -> bool:
        """Remember `answer` for prompts near `vector`; False when the vector is unusable or the
        answer alone is over the byte bound."""
        unit = normalize(vector)
        if unit is None:
            return False
        data = raw if raw is not None else orjson.dumps(answer)
        return self._answers.put(next(self._ids), _Stored(unit, scope, data, cost_usd), len(data))

    def __len__(self) -> int:
        return len(self._answers)

    def clear(self) -> None:
        self._answers.clear()

    def stats(self) -> dict[str, int]:
        """hits, misses, evictions, expirations, bytes, entries."""
        return self._answers.stats()
