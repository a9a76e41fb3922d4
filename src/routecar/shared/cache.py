"""A route's exact answer cache shared by the fleet (`routes.NAME.cache.exact.shared: true`).

One pod's answer serves every pod's repeat. Entries live in one hash per route, indexed by
store time in a sorted set, with the route's byte total beside them; a store (Lua, atomic)
drops expired entries, replaces an entry of the same key, then evicts the oldest until the new
answer fits both `max_entries` and `max_bytes`, so the bounds hold for the fleet's one copy.
The order is by store time (first in, first out), not by use: a hit must stay a read.

`get` is one round trip on the request path: expired entries are never returned (the reader's
own `ttl` decides, so a pod configured with a shorter ttl never serves older answers). `put`
is queued and sent in batches off the request path. Keys are sha256 hashes: no prompt text
ever reaches Redis (the answers do: only routes that opt in share them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .flusher import Flusher
from .keys import cache_field
from .results import UNAVAILABLE, Unavailable
from .scripts import Batch
from .store import SharedStore

# Entries dropped per store beyond the ones needed to fit the new answer (expired ones): bounds
# the script's work when a whole burst expired at once; later stores drop the rest.
_SWEEP = 256

_GET = """
local at = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not at then return false end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(at) <= now - tonumber(ARGV[2]) then return false end
return redis.call('HGET', KEYS[1], ARGV[1])
"""

_PUT = """
local data, idx, bytes = KEYS[1], KEYS[2], KEYS[3]
local field, value = ARGV[1], ARGV[2]
local ttl, max_entries, max_bytes = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local size = string.len(value)
if size > max_bytes then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local total = tonumber(redis.call('GET', bytes) or '0')
local function drop(f)
  total = total - redis.call('HSTRLEN', data, f)
  redis.call('HDEL', data, f)
  redis.call('ZREM', idx, f)
end
if redis.call('ZSCORE', idx, field) then drop(field) end
local expired = redis.call('ZRANGEBYSCORE', idx, '-inf', now - ttl, 'LIMIT', 0, tonumber(ARGV[6]))
for _, f in ipairs(expired) do drop(f) end
local n = redis.call('ZCARD', idx)
local evicted = 0
while n > 0 and (n >= max_entries or total + size > max_bytes) do
  local oldest = redis.call('ZPOPMIN', idx)
  total = total - redis.call('HSTRLEN', data, oldest[1])
  redis.call('HDEL', data, oldest[1])
  n = n - 1
  evicted = evicted + 1
end
if n == 0 then total = 0 end
redis.call('HSET', data, field, value)
redis.call('ZADD', idx, now, field)
redis.call('SET', bytes, string.format('%d', total + size))
redis.call('PEXPIRE', data, ttl)
redis.call('PEXPIRE', idx, ttl)
redis.call('PEXPIRE', bytes, ttl)
return 1 + evicted
"""


@dataclass(frozen=True, slots=True)
class _Put:
    keys: tuple[str, str, str]
    field: str
    value: bytes
    ttl_ms: int
    max_entries: int
    max_bytes: int


class SharedCache:
    def __init__(self, store: SharedStore, *, max_queue: int = 1000) -> None:
        self.store = store
        self._get = store.register_script(_GET)
        self._put = store.register_script(_PUT)
        # Answers can be large: a shorter queue than the other writers; a lost store is a miss.
        self._flusher: Flusher[_Put] = Flusher(store, "cache", self._write_puts, max_queue=max_queue, batch_size=32)
        self.counts = {"hits": 0, "misses": 0, "too_large": 0}

    async def get(self, route: str, key_bytes: bytes, ttl_s: float) -> bytes | None | Unavailable:
        """The answer stored under `key_bytes` less than `ttl_s` ago, None, or UNAVAILABLE."""
        keys = self.store.keys.cache(route)
        args = (cache_field(key_bytes), max(1, int(ttl_s * 1000)))
        result = await self.store.run(self._get, keys[:2], args)
        if isinstance(result, Unavailable):
            return UNAVAILABLE
        self.counts["hits" if result is not None else "misses"] += 1
        return result

    def put(self, route: str, key_bytes: bytes, value_bytes: bytes, ttl_s: float, max_entries: int,
            max_bytes: int) -> bool:
        """Queue a store; False when it is not stored (larger than `max_bytes` alone, or the
        queue is full). Never awaited."""
        if len(value_bytes) > max_bytes:
            self.counts["too_large"] += 1
            return False
        item = _Put(self.store.keys.cache(route), cache_field(key_bytes), value_bytes,
                    max(1, int(ttl_s * 1000)), max_entries, max_bytes)
        return self._flusher.offer(item)

    def _write_puts(self, out: Batch, batch: Sequence[_Put]) -> None:
        script = self._put
        for p in batch:
            out.script(script, p.keys, (p.field, p.value, p.ttl_ms, p.max_entries, p.max_bytes, _SWEEP))

    def stats(self) -> dict[str, Any]:
        return {**self.counts, "put_queue": self._flusher.stats()}

    def start(self) -> None:
        self._flusher.start()

    async def close(self, timeout: float) -> None:
        await self._flusher.close(timeout)
