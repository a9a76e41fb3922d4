"""What shared-state operations return: plain values the caller branches on, never exceptions.

Every operation that needs Redis may return `UNAVAILABLE` instead of its result: Redis did not
answer within `shared_state.redis.timeout`, or is known to be down. The caller then applies
`shared_state.on_unavailable` (`local`: use this pod's own state; `reject`: 503).

This module imports nothing heavy, so stages can type against it without loading redis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final


class Unavailable:
    """Redis could not be used for this call; the reason is in the store's log and counters."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNAVAILABLE"

    def __bool__(self) -> bool:
        return False


# The one instance: `result is UNAVAILABLE` (or isinstance) is the check.
UNAVAILABLE: Final = Unavailable()


@dataclass(frozen=True, slots=True)
class Reservation:
    """Budget held for one request in flight; hand it back to `SharedBudgets.reconcile`."""

    key: str  # the budget key, e.g. "support/day/team=billing"
    period_end: int  # unix seconds: the period this reservation counts against
    id: str
    est_usd: float
    spent_usd: float  # fleet-wide reconciled spend of the period, before this request
    reserved_usd: float  # fleet-wide budget held by requests in flight, this one included
    limit_usd: float
    # Monotonic instant after which a reconcile is no longer retried: the reservation (and the
    # tombstone that makes a retry harmless) has expired in Redis by then.
    retry_until: float = field(repr=False, default=0.0)
    redis_keys: tuple[str, str] = field(repr=False, default=("", ""))


@dataclass(frozen=True, slots=True)
class Denied:
    """Over budget: the numbers for the 429 `budget_exceeded` message."""

    key: str
    spent_usd: float
    reserved_usd: float
    limit_usd: float
    period_end: int


@dataclass(frozen=True, slots=True)
class Spend:
    """One budget key's fleet-wide state in its current period."""

    spent_usd: float
    reserved_usd: float
    period_end: int


@dataclass(frozen=True, slots=True)
class Allowed:
    """A request fits the provider's fleet-wide rpm/tpm; the shares of a minute's capacity now
    in use (after counting this request) feed the headroom logic. None: no such limit."""

    rpm_used: float | None = None
    tpm_used: float | None = None

    @property
    def used(self) -> float | None:
        shares = [s for s in (self.rpm_used, self.tpm_used) if s is not None]
        return max(shares) if shares else None

    @property
    def headroom(self) -> float | None:
        """Share of a minute's capacity still free (1 - used); None without limits."""
        used = self.used
        return None if used is None else max(0.0, 1.0 - used)


ALLOWED_UNLIMITED: Final = Allowed()


@dataclass(frozen=True, slots=True)
class Limited:
    """The fleet is at the provider's rpm or tpm; nothing was counted for this request."""

    reason: str  # "rpm_limit" | "tpm_limit"
    retry_after_s: float  # from now; independent of any clock skew between pods
    retry_at_unix: float  # on Redis' clock
