"""Cooldown after a 429 (docs/failure-semantics.md): the deployment rests until the provider's reset.

The deadline comes from `Retry-After`/`retry-after-ms`, else from the reset of the limit
that is exhausted, else from a default that doubles with each consecutive 429 (the provider
told us nothing, so back off harder each time). Every deadline is capped at
`resilience.max_cooldown`: a wrong or hostile header must not bench a deployment for hours.
A new 429 only ever moves the deadline later, so a short `Retry-After` on a straggler cannot
cut short a longer reset already known.
"""

from __future__ import annotations

from typing import Any

from .clock import Clock
from .ratelimit_headers import RateLimitInfo

_DEFAULT_BASE = 1.0
# Without a Retry-After, a 529/503 cools only briefly: overload passes faster than quotas.
_OVERLOAD_DEFAULT = 1.0


def rate_limit_delay(info: RateLimitInfo | None) -> float | None:
    """Seconds to wait that the headers of a 429 justify, or None when they say nothing."""
    if info is None:
        return None
    if info.retry_after is not None:
        return info.retry_after
    exhausted = [
        reset
        for remaining, reset in (
            (info.remaining_requests, info.reset_requests),
            (info.remaining_tokens, info.reset_tokens),
        )
        if remaining is not None and remaining <= 0 and reset is not None
    ]
    if exhausted:
        return max(exhausted)
    # Nothing exhausted by the numbers (e.g. a request larger than the tokens left): the
    # soonest reset is the first moment anything changes.
    known = [r for r in (info.reset_requests, info.reset_tokens) if r is not None]
    return min(known) if known else None


class Cooldown:
    __slots__ = ("max_cooldown", "_clock", "_until", "_streak")

    def __init__(self, max_cooldown: float, clock: Clock) -> None:
        self.max_cooldown = max_cooldown
        self._clock = clock
        self._until: float | None = None
        self._streak = 0

    @property
    def streak(self) -> int:
        """Consecutive 429s not yet followed by a success after the cooldown ended."""
        return self._streak

    @property
    def cooling_until(self) -> float | None:
        """Monotonic end of the cooldown, None when not cooling."""
        if self._until is not None and self._clock() >= self._until:
            self._until = None
        return self._until

    def is_cooling(self) -> bool:
        return self.cooling_until is not None

    def remaining(self) -> float:
        until = self.cooling_until
        return 0.0 if until is None else until - self._clock()

    def _extend(self, delay: float) -> float:
        delay = min(max(delay, 0.0), self.max_cooldown)
        deadline = self._clock() + delay
        current = self.cooling_until
        if current is None or deadline > current:
            self._until = deadline
        return self._until if self._until is not None else deadline

    def on_rate_limited(self, info: RateLimitInfo | None = None) -> float:
        """A 429 arrived: cool down; returns the (monotonic) deadline now in force."""
        self._streak += 1
        delay = rate_limit_delay(info)
        if delay is None:
            delay = _DEFAULT_BASE * 2.0 ** min(self._streak - 1, 32)
        return self._extend(delay)

    def on_overloaded(self, retry_after: float | None = None) -> float:
        """A 529/503 (overloaded): a short cooldown, `Retry-After` when given."""
        return self._extend(_OVERLOAD_DEFAULT if retry_after is None else retry_after)

    def on_success(self) -> None:
        # A straggler admitted before the 429 may succeed while cooling; only a success
        # after the cooldown shows the limit has really recovered.
        if not self.is_cooling():
            self._streak = 0

    def snapshot(self) -> dict[str, Any]:
        return {"cooldown_s": round(self.remaining(), 3), "consecutive_429": self._streak}
