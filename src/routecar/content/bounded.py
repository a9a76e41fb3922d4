"""The bookkeeping both answer caches share: an LRU of serialized answers bounded by entry
count and bytes, with hit/miss/eviction/expiry counters."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Hashable


class BoundedAnswers:
    def __init__(self) -> None:
        # Values carry `.raw` (the serialized answer): its length is the byte accounting.
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.evictions = 0  # removed to make room (entry or byte bound)
        self.expirations = 0  # removed because their ttl had passed
        self.bytes = 0

    @property
    def entries(self) -> int:
        return len(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def _add(self, key: Hashable, entry: Any, max_entries: int, max_bytes: int) -> None:
        self._entries[key] = entry
        self.bytes += len(entry.raw)
        # Oldest first; the new entry fits on its own, so this stops before reaching it.
        while len(self._entries) > 1 and (len(self._entries) > max_entries or self.bytes > max_bytes):
            _, old = self._entries.popitem(last=False)
            self.bytes -= len(old.raw)
            self.evictions += 1

    def _drop(self, key: Hashable) -> None:
        self.bytes -= len(self._entries.pop(key).raw)

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "evictions": self.evictions,
                "expirations": self.expirations, "bytes": self.bytes, "entries": len(self._entries)}
