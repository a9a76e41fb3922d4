"""The one in-memory cache of the content features: an LRU bounded by entry count and,
optionally, by bytes, whose entries optionally expire `ttl` seconds after they were stored.

Its users: the exact and the semantic answer caches (serialized answers, bounded by bytes as
well) and the classifiers' memos (labels by prompt hash). Each counts its hits, misses,
evictions (removed to make room) and expirations (removed because their ttl had passed).
The clock is injectable so expiry is tested without sleeping.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(slots=True)
class Entry(Generic[V]):
    value: V
    size: int  # what it counts against the byte bound
    stored_at: float  # clock() when stored


class BoundedCache(Generic[K, V]):
    def __init__(self, max_entries: int, *, max_bytes: int | None = None, ttl: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._clock = clock
        self._byte_bound = math.inf if max_bytes is None else max_bytes
        self._entries: OrderedDict[K, Entry[V]] = OrderedDict()  # least recently used first
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.expirations = 0
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: K) -> Entry[V] | None:
        """The live entry under `key`, now the most recently used; counts a hit or a miss."""
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        if self._expired(entry, self._clock()):
            self._remove(key)
            self.expirations += 1
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def get(self, key: K) -> V | None:
        entry = self.lookup(key)
        return None if entry is None else entry.value

    def put(self, key: K, value: V, size: int = 0) -> bool:
        """Store `value` as the most recently used entry, evicting the least recently used ones
        beyond the bounds. False (nothing stored or replaced) when `size` alone is over the
        byte bound."""
        if size > self._byte_bound:
            return False
        if key in self._entries:
            self._remove(key)
        self._entries[key] = Entry(value, size, self._clock())
        self.bytes += size
        # Oldest first; the new entry fits on its own, so this stops before reaching it.
        while len(self._entries) > 1 and (len(self._entries) > self.max_entries or self.bytes > self._byte_bound):
            _, old = self._entries.popitem(last=False)
            self.bytes -= old.size
            self.evictions += 1
        return True

    def sweep(self) -> None:
        """Drop every expired entry. An LRU is not in storage order, so this visits them all:
        for a user that scans every entry anyway (the semantic cache)."""
        if self.ttl is None:
            return
        now = self._clock()
        expired = [key for key, entry in self._entries.items() if self._expired(entry, now)]
        for key in expired:
            self._remove(key)
        self.expirations += len(expired)

    def items(self) -> Iterator[tuple[K, Entry[V]]]:
        """Every entry, least recently used first, expired ones too unless swept just before;
        counts nothing and changes no order. Do not store while iterating."""
        return iter(self._entries.items())

    def count_miss(self) -> None:
        """A lookup that found nothing without asking for a key (a scan that matched nothing)."""
        self.misses += 1

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "evictions": self.evictions,
                "expirations": self.expirations, "bytes": self.bytes, "entries": len(self._entries)}

    def _expired(self, entry: Entry[V], now: float) -> bool:
        return self.ttl is not None and now - entry.stored_at >= self.ttl

    def _remove(self, key: K) -> None:
        self.bytes -= self._entries.pop(key).size
