"""A budget reservation and the first attempt's rpm/tpm slot in one Redis round trip.

A request on a route with a budget, whose first candidate's provider has fleet-wide limits,
would otherwise wait on Redis twice before its first byte goes upstream: once to reserve its
estimated cost (stages/budget.py), once more for the provider's rpm/tpm slot (the dispatcher).
One script does both, in that order: the slot is taken only when the reservation fits, so a
request refused for budget never counts against the provider's rate (a flood of refused
requests must not starve the routes that still have budget).

The slot travels with the request as a `FleetSlot`; the dispatcher takes it for the first
attempt on that provider instead of asking Redis. An attempt on any other provider (the
first candidate was skipped, or failed over) asks as usual. A slot the dispatcher never takes
(the first candidate's breaker was open) stays counted: one request of the provider's minute,
the conservative side.
"""

from __future__ import annotations

from typing import Any

from .budgets import _RESERVE, ReservationAsk, SharedBudgets
from .limits import _ACQUIRE, SharedLimits, read_acquire
from .results import UNAVAILABLE, Allowed, Denied, Limited, Reservation, Unavailable

# Each script's body becomes a local function whose parameters shadow KEYS and ARGV, so the
# two stay the very texts that run alone (budgets.py, limits.py): one source for each rule.
_RESERVE_THEN_ACQUIRE = f"""
local function reserve(KEYS, ARGV)
{_RESERVE}
end
local function acquire(KEYS, ARGV)
{_ACQUIRE}
end
local held = reserve({{KEYS[1], KEYS[2]}}, {{ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]}})
if tonumber(held[1]) == 1 then
  return {{held, acquire({{KEYS[3], KEYS[4]}}, {{ARGV[7], ARGV[8], ARGV[9], ARGV[10]}})}}
end
return {{held}}
"""


class FleetSlot:
    """The first attempt's rpm/tpm answer, fetched with the budget reservation."""

    __slots__ = ("provider", "result", "_taken")

    def __init__(self, provider: str, result: Allowed | Limited | Unavailable) -> None:
        self.provider = provider
        self.result = result
        self._taken = False

    def take(self, provider: str) -> Allowed | Limited | Unavailable | None:
        """The answer for this attempt, once, when it is on the slot's provider; else None."""
        if self._taken or provider != self.provider:
            return None
        self._taken = True
        return self.result


class SharedAdmission:
    def __init__(self, budgets: SharedBudgets, limits: SharedLimits) -> None:
        self.budgets = budgets
        self.limits = limits
        self.store = budgets.store
        self._script = self.store.register_script(_RESERVE_THEN_ACQUIRE)

    async def reserve_with_slot(self, ask: ReservationAsk, provider: str, rpm: int | None, tpm: int | None,
                                est_tokens: int) -> tuple[Reservation | Denied | Unavailable, FleetSlot | None]:
        """Reserve `ask` and, when it fits, take `provider`'s slot. Redis unavailable: both
        answers are UNAVAILABLE (the dispatcher then applies on_unavailable without asking)."""
        limit_keys, limit_args = self.limits.acquire_args(provider, rpm, tpm, est_tokens)
        result: Any = await self.store.run(self._script, (*ask.redis_keys, *limit_keys), (*ask.args, *limit_args))
        if isinstance(result, Unavailable):
            return UNAVAILABLE, FleetSlot(provider, UNAVAILABLE)
        held = self.budgets.read_reservation(ask, result[0])
        if not isinstance(held, Reservation) or len(result) < 2:
            return held, None
        return held, FleetSlot(provider, read_acquire(result[1], rpm, tpm))
