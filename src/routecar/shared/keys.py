"""Every Redis key routecar writes, in one place.

All keys start with `shared_state.redis.key_prefix` (default `routecar:`) and a layout version,
`v1:`. A change in what a key holds or how it is read takes a new version, so pods of the old
and the new release never misread each other's state during a rollout (each simply keeps its
own until the old pods are gone).

The part in braces is a Redis Cluster hash tag: every key one Lua script touches carries the
same tag, so the layout stays valid on a cluster (a script may only touch keys of one slot).
Names from requests (tag values in a per-tag budget key) may contain braces; that only moves
where the tag ends, and both keys of a script still share it because they share that prefix.

Budgets (`budgets.py`), per budget key (`route/period[/tag=value]`) and period:

    P v1:budget:{KEY@END}          hash  spent   nano-USD reconciled (true cost) this period
                                         reserved nano-USD held by requests in flight
                                         r:ID    one reservation: its nano-USD, or `d` once
                                                 reconciled (a tombstone that makes a retried
                                                 reconcile a no-op until the reservation's expiry)
    P v1:budget:{KEY@END}:exp      zset  ID -> expiry (Redis ms); expired reservations are
                                         released by the next reserve, tombstones dropped

  END is the period's end (unix seconds). Both keys expire `BUDGET_HISTORY_S` after END:
  last period's spend stays readable for `routecar state` a while, then goes by itself.

Client-side limits (`limits.py`), per provider:

    P v1:limit:{PROVIDER}:rpm      string  GCRA theoretical arrival time (Redis µs)
    P v1:limit:{PROVIDER}:tpm      string  same, for tokens

  Each expires 1 s after its arrival time has passed: an absent key is an idle provider.

Shared exact cache (`cache.py`), per route:

    P v1:cache:{ROUTE}:data        hash    sha256(key) hex -> answer bytes
    P v1:cache:{ROUTE}:idx         zset    sha256(key) hex -> store time (Redis ms)
    P v1:cache:{ROUTE}:bytes       string  sum of the answers' sizes

  All three expire `ttl` after the newest store (by then every entry has expired anyway);
  single entries expire by the index (checked on every read, swept on every store), and the
  entry and byte bounds evict the oldest stores first.

Nothing else is written; prompts never are (cache keys are hashed).
"""

from __future__ import annotations

import hashlib

VERSION = "v1"
# How long a budget period's keys outlive the period: long enough that last month's spend is
# still there during this month.
BUDGET_HISTORY_S = 35 * 86400
# Names longer than this are hashed: a tag value from a request must not make huge keys.
_MAX_NAME = 128


def _name(name: str) -> str:
    if len(name) <= _MAX_NAME:
        return name
    return "sha256:" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


class KeyLayout:
    """Key names under one prefix."""

    __slots__ = ("base",)

    def __init__(self, prefix: str) -> None:
        self.base = f"{prefix}{VERSION}:"

    def budget(self, key: str, period_end: int) -> tuple[str, str]:
        """(state hash, reservation expiry zset) of one budget key in one period."""
        state = f"{self.base}budget:{{{_name(key)}@{period_end}}}"
        return state, state + ":exp"

    def limits(self, provider: str) -> tuple[str, str]:
        """(rpm, tpm) GCRA keys of one provider."""
        base = f"{self.base}limit:{{{_name(provider)}}}:"
        return base + "rpm", base + "tpm"

    def cache(self, route: str) -> tuple[str, str, str]:
        """(data hash, index zset, byte total) of one route's shared exact cache."""
        base = f"{self.base}cache:{{{_name(route)}}}:"
        return base + "data", base + "idx", base + "bytes"


def cache_field(key_bytes: bytes) -> str:
    """The stored name of a cache key: fixed size, and no prompt text in Redis."""
    return hashlib.sha256(key_bytes).hexdigest()
