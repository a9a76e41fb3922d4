"""A provider's client-side rpm/tpm held across the fleet: GCRA in Lua, on Redis' clock.

GCRA (the generic cell rate algorithm) keeps one number per limit, the theoretical arrival
time (TAT): when the provider would be idle again if admitted work drained at exactly the
limit's rate. A request costs `interval` (60 s / rpm; for tokens, est_tokens x 60 s / tpm) and
is admitted iff max(TAT, now) + cost - now <= 60 s, i.e. the debt stays within one minute's
capacity: a minute's burst is allowed, as a per-minute limit implies, and the steady rate is
the limit. (Like a provider's own token bucket, the first minute after an idle one may admit
up to twice the limit; after that the rate holds.) One request larger than the whole tpm is
let through alone once the bucket is full, rather than never, as the per-pod limiter does.

rpm and tpm are checked and counted in one script, so a request is counted in both or in
neither. `now` is `redis.call('TIME')`: pods with skewed clocks agree, and `retry_after_s` is
relative, so it means the same on every pod.

`add_tokens` settles a request's real usage against its estimate (more, or less: a refund
lowers the debt, never below idle), queued and batched off the request path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .flusher import Flusher
from .results import ALLOWED_UNLIMITED, UNAVAILABLE, Allowed, Limited, Unavailable
from .scripts import Batch
from .store import SharedStore

WINDOW_US = 60_000_000  # one minute: the burst a per-minute limit allows

# Returns {1, rpm debt µs, tpm debt µs, now ms} when admitted (a debt of -1: no such limit),
# else {0, reason, wait µs, now ms}.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[4])
local req_cost = tonumber(ARGV[1])
local tok_cost = tonumber(ARGV[2]) * tonumber(ARGV[3])
local function tat_of(key)
  local v = redis.call('GET', key)
  if v then return math.max(tonumber(v), now) end
  return now
end
local r_new, t_new = nil, nil
local reason, wait = nil, 0
if req_cost > 0 then
  local tat = tat_of(KEYS[1])
  r_new = tat + req_cost
  if r_new - now > window then reason, wait = 'rpm_limit', r_new - window - now end
end
local t_seen = nil
if tonumber(ARGV[2]) > 0 then
  local tat = tat_of(KEYS[2])
  t_seen = tat
  t_new = tat + tok_cost
  if tok_cost == 0 then
    -- no estimate: nothing to count or refuse, only the debt to report
  elseif tok_cost > window then
    -- larger than a minute's tokens: alone, once nothing else is owed
    if tat > now and tat - now > wait then reason, wait = 'tpm_limit', tat - now end
  elseif t_new - now > window and t_new - window - now > wait then
    reason, wait = 'tpm_limit', t_new - window - now
  end
end
local now_ms = math.floor(now / 1000)
if reason then return {0, reason, math.ceil(wait), now_ms} end
local r_debt, t_debt = -1, -1
if r_new then
  redis.call('SET', KEYS[1], string.format('%d', r_new), 'PX', math.ceil((r_new - now) / 1000) + 1000)
  r_debt = r_new - now
end
if t_new then
  if t_new > t_seen then
    redis.call('SET', KEYS[2], string.format('%d', t_new), 'PX', math.ceil((t_new - now) / 1000) + 1000)
  end
  t_debt = t_new - now
end
return {1, r_debt, t_debt, now_ms}
"""

_ADD_TOKENS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local v = redis.call('GET', KEYS[1])
local tat = now
if v then tat = math.max(tonumber(v), now) end
local new = tat + tonumber(ARGV[1]) * tonumber(ARGV[2])
if new <= now then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.ceil((new - now) / 1000) + 1000)
return 1
"""


def _interval_us(per_minute: int | None) -> float:
    return WINDOW_US / per_minute if per_minute else 0.0


@dataclass(frozen=True, slots=True)
class _Tokens:
    key: str
    interval_us: float
    extra: int


def read_acquire(result: Any, rpm: int | None, tpm: int | None) -> Allowed | Limited | Unavailable:
    """The acquire script's answer as a value (an exception: the batch item Redis refused)."""
    if isinstance(result, (Unavailable, BaseException)):
        return UNAVAILABLE
    if int(result[0]) == 1:
        r_debt, t_debt = int(result[1]), int(result[2])
        return Allowed(
            rpm_used=min(1.0, r_debt / WINDOW_US) if rpm and r_debt >= 0 else None,
            tpm_used=min(1.0, t_debt / WINDOW_US) if tpm and t_debt >= 0 else None,
        )
    reason = result[1].decode() if isinstance(result[1], bytes) else str(result[1])
    wait_s = int(result[2]) / 1_000_000
    return Limited(reason, wait_s, int(result[3]) / 1000 + wait_s)


class SharedLimits:
    def __init__(self, store: SharedStore, *, max_queue: int = 10_000) -> None:
        self.store = store
        self._acquire = store.register_script(_ACQUIRE)
        self._add = store.register_script(_ADD_TOKENS)
        # Token corrections only matter within the minute: never retried after a failure.
        self._flusher: Flusher[_Tokens] = Flusher(store, "tokens", self._write_tokens, max_queue=max_queue)

    async def acquire(self, provider: str, rpm: int | None, tpm: int | None,
                      est_tokens: int) -> Allowed | Limited | Unavailable:
        """Count one request of `est_tokens` against the provider's fleet-wide limits, or say
        when it would fit. Nothing is counted for a request that is Limited."""
        if not rpm and not tpm:
            return ALLOWED_UNLIMITED
        keys, args = self.acquire_args(provider, rpm, tpm, est_tokens)
        return read_acquire(await self.store.run(self._acquire, keys, args), rpm, tpm)

    def acquire_args(self, provider: str, rpm: int | None, tpm: int | None,
                      est_tokens: int) -> tuple[tuple[str, str], tuple[float, float, int, int]]:
        tokens = max(0, est_tokens) if tpm else 0  # 0: counted in rpm only, as per pod
        return self.store.keys.limits(provider), (_interval_us(rpm), _interval_us(tpm), tokens, WINDOW_US)

    def add_tokens(self, provider: str, tpm: int | None, extra: int) -> bool:
        """Settle real usage against the estimate: `extra` tokens more (or, negative, fewer).
        Queued, never awaited; False (counted) when the queue is full."""
        if not tpm or not extra:
            return True
        return self._flusher.offer(_Tokens(self.store.keys.limits(provider)[1], _interval_us(tpm), extra))

    def _write_tokens(self, out: Batch, batch: Sequence[_Tokens]) -> None:
        script = self._add
        for item in batch:
            out.script(script, (item.key,), (item.interval_us, item.extra))

    def stats(self) -> dict[str, Any]:
        return {"tokens_queue": self._flusher.stats()}

    def start(self) -> None:
        self._flusher.start()

    async def close(self, timeout: float) -> None:
        await self._flusher.close(timeout)
