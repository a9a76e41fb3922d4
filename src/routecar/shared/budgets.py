"""Route budgets shared by the fleet: reserve before dispatch, reconcile after.

A request reserves its estimated cost in Redis before it is sent (`reserve`, one EVALSHA
round trip on the request path); its true cost replaces the reservation once known
(`reconcile`, queued and sent in batches by a background task). Admission is atomic in Lua:
allowed iff the period's reconciled spend is under the limit and spend + everything reserved
by requests in flight + this estimate fits. So a burst of concurrent requests across every pod
never passes the limit by more than the estimates' error, and a pod that dies mid-request does
not leak its reservations: each expires after `ttl_s` (the request's deadline plus a margin)
and the next reserve releases it.

Money is kept as integer nano-dollars (HINCRBY), not HINCRBYFLOAT: the sum of millions of small
costs stays exact (float addition drifts, and a string float cannot be compared exactly in
Lua), and a nano-dollar still resolves the cheapest request (10 embedding tokens at $0.02/1M
are $2e-7, 200 n$, which micro-dollars would round to 0 every time). Lua's numbers are doubles,
exact to 2^53 n$ (about $9M): far above any one budget period. Estimates round up (never
under-reserve), true costs to the nearest n$.

`spent` reads the fleet-wide figures; `cached()` is the copy a background task refreshes every
few seconds, for `/metrics` and `routecar state`, so a scrape never waits for Redis.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from itertools import count
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from .flusher import Flusher
from .keys import BUDGET_HISTORY_S
from .results import UNAVAILABLE, Denied, Reservation, Spend, Unavailable
from .scripts import Batch
from .store import SharedStore

NANO = 1_000_000_000
# Added by callers to a request's remaining deadline to get `ttl_s`: a reservation must outlive
# its request, reconcile queue included, or the request's cost could be counted late.
RESERVATION_MARGIN_S = 30.0
# Expired reservations released per reserve call: bounds the script's work after a crash left
# many behind (the next calls release the rest).
_SWEEP = 256
# Budget keys whose spend the background refresh keeps; least recently reserved go first.
_MAX_WATCHED = 1024

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state, exp = KEYS[1], KEYS[2]
local dead = redis.call('ZRANGEBYSCORE', exp, '-inf', now, 'LIMIT', 0, tonumber(ARGV[6]))
for _, id in ipairs(dead) do
  local f = 'r:' .. id
  local amount = redis.call('HGET', state, f)
  if amount and amount ~= 'd' and amount ~= '0' then
    redis.call('HINCRBY', state, 'reserved', '-' .. amount)
  end
  redis.call('HDEL', state, f)
  redis.call('ZREM', exp, id)
end
local spent = tonumber(redis.call('HGET', state, 'spent') or '0')
local reserved = tonumber(redis.call('HGET', state, 'reserved') or '0')
local est, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
if spent < limit and spent + reserved + est <= limit then
  redis.call('HINCRBY', state, 'reserved', ARGV[2])
  redis.call('HSET', state, 'r:' .. ARGV[1], ARGV[2])
  redis.call('ZADD', exp, now + tonumber(ARGV[4]), ARGV[1])
  redis.call('EXPIREAT', state, ARGV[5])
  redis.call('EXPIREAT', exp, ARGV[5])
  return {1, spent, reserved + est}
end
return {0, spent, reserved}
"""

# A reservation's field holds its amount until reconciled, then `d` (a tombstone) until its
# expiry sweeps it: a reconcile sent twice (a batch retried after a lost reply) counts once.
# No field at all: the reservation expired and was released before its reconcile came; the
# true cost is still real spend, so it is added.
_RECONCILE = """
local state = KEYS[1]
local f = 'r:' .. ARGV[1]
local amount = redis.call('HGET', state, f)
if amount == 'd' then return 0 end
if amount then
  if amount ~= '0' then redis.call('HINCRBY', state, 'reserved', '-' .. amount) end
  redis.call('HSET', state, f, 'd')
end
if ARGV[2] ~= '0' then redis.call('HINCRBY', state, 'spent', ARGV[2]) end
redis.call('EXPIREAT', state, ARGV[3])
return 1
"""


def to_nano_up(usd: float) -> int:
    return max(0, math.ceil(usd * NANO - 1e-6)) if usd and math.isfinite(usd) else 0


def to_nano(usd: float) -> int:
    return max(0, round(usd * NANO)) if usd and math.isfinite(usd) else 0


@dataclass(frozen=True, slots=True)
class _Reconcile:
    state_key: str
    id: str
    actual_n: int
    expire_at: int
    retry_until: float


class ReservationAsk(NamedTuple):
    """One reservation as sent to Redis, and what reading its answer needs."""

    key: str
    period_end: int
    rid: str
    est_usd: float
    limit_usd: float
    ttl_ms: int
    redis_keys: tuple[str, str]
    args: tuple[Any, ...]


class SharedBudgets:
    def __init__(self, store: SharedStore, *, clock: Callable[[], float] = time.monotonic,
                 refresh_interval: float = 2.0, max_queue: int = 10_000) -> None:
        self.store = store
        self._clock = clock
        self.refresh_interval = refresh_interval
        self._reserve = store.register_script(_RESERVE)
        self._reconcile = store.register_script(_RECONCILE)
        self._flusher: Flusher[_Reconcile] = Flusher(
            store, "reconcile", self._write_reconciles, max_queue=max_queue,
            retry=lambda item: clock() < item.retry_until)
        # Reservation ids: a random per-process prefix and a counter, unique across the fleet
        # and far cheaper than a uuid per request.
        self._id_prefix = os.urandom(6).hex()
        self._ids = count(1)
        self._watched: OrderedDict[str, int] = OrderedDict()  # budget key -> latest period end
        self._cached: Mapping[str, Spend] = MappingProxyType({})
        self.cached_at: float | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        self._closed = False

    # -- request path -------------------------------------------------------------------------

    async def reserve(self, key: str, est_cost_usd: float, limit_usd: float, period_end_unix: float,
                      ttl_s: float) -> Reservation | Denied | Unavailable:
        """Hold `est_cost_usd` of `key`'s budget for one request, or say why not.

        `period_end_unix` names the period (its end, unix seconds); `ttl_s` is how long the
        hold lives if never reconciled: the request's remaining deadline + RESERVATION_MARGIN_S.
        """
        return await self.send(self.reservation(key, est_cost_usd, limit_usd, period_end_unix, ttl_s))

    async def send(self, ask: ReservationAsk) -> Reservation | Denied | Unavailable:
        return self.read_reservation(ask, await self.store.run(self._reserve, ask.redis_keys, ask.args))

    def reservation(self, key: str, est_cost_usd: float, limit_usd: float, period_end_unix: float,
                    ttl_s: float) -> ReservationAsk:
        """What `reserve` sends, for a caller that sends it in a script of its own (see
        admission.py); `read_reservation` reads the answer."""
        period_end = int(period_end_unix)
        state, exp = self.store.keys.budget(key, period_end)
        rid = f"{self._id_prefix}{next(self._ids):x}"
        ttl_ms = max(100, int(ttl_s * 1000))
        args = (rid, to_nano_up(est_cost_usd), to_nano(limit_usd), ttl_ms, period_end + BUDGET_HISTORY_S, _SWEEP)
        return ReservationAsk(key, period_end, rid, est_cost_usd, limit_usd, ttl_ms, (state, exp), args)

    def read_reservation(self, ask: ReservationAsk, result: Any) -> Reservation | Denied | Unavailable:
        if isinstance(result, (Unavailable, BaseException)):  # an exception: the batch item Redis refused
            return UNAVAILABLE
        self._watch(ask.key, ask.period_end)
        ok, spent_n, reserved_n = (int(x) for x in result)
        if not ok:
            return Denied(ask.key, spent_n / NANO, reserved_n / NANO, ask.limit_usd, ask.period_end)
        # A reconcile is retried until shortly before the reservation (and its tombstone) can
        # have expired in Redis; the margin absorbs the gap between this pod's and Redis' clocks.
        retry_until = self._clock() + ask.ttl_ms / 1000 - min(5.0, ask.ttl_ms / 10_000)
        return Reservation(ask.key, ask.period_end, ask.rid, ask.est_usd, spent_n / NANO, reserved_n / NANO,
                           ask.limit_usd, retry_until, ask.redis_keys)

    def reconcile(self, reservation: Reservation, actual_cost_usd: float) -> bool:
        """Replace the hold with the true cost (0 for a request that cost nothing). Queued, never
        awaited; False (counted) when the queue is full. Applying it twice counts once."""
        item = _Reconcile(reservation.redis_keys[0], reservation.id, to_nano(actual_cost_usd),
                          reservation.period_end + BUDGET_HISTORY_S, reservation.retry_until)
        return self._flusher.offer(item)

    def _write_reconciles(self, out: Batch, batch: Sequence[_Reconcile]) -> None:
        script = self._reconcile
        for item in batch:
            out.script(script, (item.state_key,), (item.id, item.actual_n, item.expire_at))

    # -- reads --------------------------------------------------------------------------------

    def _watch(self, key: str, period_end: int) -> None:
        watched = self._watched
        if watched.get(key) != period_end:
            watched[key] = period_end
        watched.move_to_end(key)
        if len(watched) > _MAX_WATCHED:
            watched.popitem(last=False)

    def watch(self, key: str, period_end_unix: float) -> None:
        """Keep `key`'s spend in the background copy even before this pod reserves on it."""
        self._watch(key, int(period_end_unix))

    async def spent(self, keys: Iterable[tuple[str, float]]) -> dict[str, Spend] | Unavailable:
        """Fleet-wide spend of (budget key, period end) pairs, read now."""
        pairs = [(key, int(end)) for key, end in keys]
        if not pairs:
            return {}
        layout = self.store.keys

        def fill(out: Batch) -> None:
            for key, end in pairs:
                out.command("HMGET", layout.budget(key, end)[0], "spent", "reserved")

        results = await self.store.pipeline(fill)
        if isinstance(results, Unavailable):
            return UNAVAILABLE
        out: dict[str, Spend] = {}
        for (key, end), values in zip(pairs, results):
            if isinstance(values, Exception):
                continue
            spent_n, reserved_n = (int(v) if v is not None else 0 for v in values)
            out[key] = Spend(spent_n / NANO, max(0, reserved_n) / NANO, end)
        return out

    def cached(self) -> Mapping[str, Spend]:
        """The last background read of every watched key (see `cached_at`); never awaits."""
        return self._cached

    async def refresh(self) -> bool:
        result = await self.spent(list(self._watched.items()))
        if isinstance(result, Unavailable):
            return False
        self._cached = MappingProxyType(result)
        self.cached_at = self._clock()
        return True

    async def _refresh_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.refresh_interval)
            if self._watched and self.store.available:
                await self.refresh()

    # -- lifecycle ----------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return {"reconcile_queue": self._flusher.stats(), "watched_keys": len(self._watched)}

    def start(self) -> None:
        self._flusher.start()
        if self._refresh_task is None:
            self._refresh_task = asyncio.get_running_loop().create_task(self._refresh_loop(), name="shared-budgets")

    async def close(self, timeout: float) -> None:
        self._closed = True
        task, self._refresh_task = self._refresh_task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=timeout)
        await self._flusher.close(timeout)
