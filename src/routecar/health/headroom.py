"""Rate-limit headroom: how much a deployment may still take before the provider says 429.

Two sources, kept apart because they differ in scope and trust:
- `ReportedHeadroom` (per deployment): the remaining requests/tokens the provider reported
  on its last answer, valid until the reset it announced (after that, assume refilled).
  Each request started since then is subtracted locally, so a burst dispatched between two
  answers does not all see the same stale "remaining".
- `ClientLimiter` (per provider, shared by all its deployments): the operator's own
  `limits.rpm` / `limits.tpm`, counted over a sliding 60-second window of 1-second buckets.
"""

from __future__ import annotations

from typing import Any

from ..config.model import Limits
from .clock import Clock
from .ratelimit_headers import RateLimitInfo
from .rolling import RollingCounts

# How long a reported "remaining" is trusted when the provider gave no reset: providers'
# windows are per minute, so older numbers say nothing about now.
_STALE_AFTER = 60.0


class _Quota:
    """One reported dimension (requests or tokens): remaining, limit, valid until."""

    __slots__ = ("remaining", "limit", "until")

    def __init__(self) -> None:
        self.remaining: int | None = None
        self.limit: int | None = None
        self.until = 0.0

    def live(self, now: float) -> bool:
        return self.remaining is not None and now < self.until

    def update(self, remaining: int | None, limit: int | None, reset: float | None,
               now: float, horizon: float) -> None:
        if limit is not None:
            self.limit = limit
        if remaining is None and reset is None:
            return
        if remaining is not None:
            self.remaining = remaining
        self.until = now + min(reset if reset is not None else _STALE_AFTER, horizon)

    def fraction(self, now: float) -> float | None:
        if not self.live(now) or not self.limit or self.remaining is None:
            return None
        return min(1.0, max(0.0, self.remaining / self.limit))


class ReportedHeadroom:
    __slots__ = ("_clock", "horizon", "_requests", "_tokens")

    def __init__(self, clock: Clock, horizon: float = 300.0) -> None:
        self._clock = clock
        # Upper bound on trusting a reset (resilience.max_cooldown): a bogus reset far in the
        # future must not block a deployment for longer than a 429 could.
        self.horizon = horizon
        self._requests = _Quota()
        self._tokens = _Quota()

    def update(self, info: RateLimitInfo) -> bool:
        """Takes the numbers of one answer; False when it carried none (nothing changed)."""
        if info.empty:
            return False
        now = self._clock()
        self._requests.update(info.remaining_requests, info.limit_requests,
                              info.reset_requests, now, self.horizon)
        self._tokens.update(info.remaining_tokens, info.limit_tokens,
                            info.reset_tokens, now, self.horizon)
        return True

    def consume(self, est_tokens: int) -> bool:
        """A request just started: count it against what the provider last reported.

        False when nothing reported is live (nothing changed)."""
        req, tok = self._requests, self._tokens
        if req.remaining is None and tok.remaining is None:
            return False  # nothing ever reported: the common case, no clock read
        now = self._clock()
        changed = False
        if req.live(now) and req.remaining is not None:
            req.remaining -= 1
            changed = True
        if est_tokens > 0 and tok.live(now) and tok.remaining is not None:
            tok.remaining -= est_tokens
            changed = True
        return changed

    def has_headroom(self, est_tokens: int = 0) -> tuple[bool, float | None]:
        """(ok, monotonic instant the reported limit resets when not ok)."""
        req, tok = self._requests, self._tokens
        if req.remaining is None and tok.remaining is None:
            return True, None  # nothing ever reported: the common case, no clock read
        now = self._clock()
        if req.live(now) and req.remaining is not None and req.remaining <= 0:
            return False, req.until
        if tok.live(now) and tok.remaining is not None:
            if tok.remaining <= 0 or tok.remaining < est_tokens:
                return False, tok.until
        return True, None

    def next_change(self) -> float | None:
        """Monotonic instant the soonest live reported limit resets, if any."""
        now = self._clock()
        live = [q.until for q in (self._requests, self._tokens) if q.live(now)]
        return min(live) if live else None

    def headroom_fraction(self) -> float | None:
        """Smallest remaining/limit share among live reported limits; None when unknown."""
        now = self._clock()
        shares = [f for f in (self._requests.fraction(now), self._tokens.fraction(now))
                  if f is not None]
        return min(shares) if shares else None

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        out: dict[str, Any] = {}
        for name, quota in (("requests", self._requests), ("tokens", self._tokens)):
            live = quota.live(now)
            out[f"remaining_{name}"] = quota.remaining if live else None
            out[f"limit_{name}"] = quota.limit
            out[f"reset_{name}_s"] = round(quota.until - now, 3) if live else None
        fraction = self.headroom_fraction()
        out["fraction"] = None if fraction is None else round(fraction, 4)
        return out


_WINDOW = 60.0
_BUCKETS = 60
# A fleet-wide share older than this says little about now (each attempt refreshes it).
FLEET_FRESH_S = 5.0
LOW_FREE = 0.2  # the headroom steering threshold (health/deployment.py LOW_HEADROOM)
_REQUESTS, _TOKENS = 0, 1


class ClientLimiter:
    """Client-side rpm/tpm over a sliding minute, shared by every deployment of a provider."""

    __slots__ = ("limits", "limited", "_window", "_clock", "_fleet")

    def __init__(self, limits: Limits, clock: Clock) -> None:
        self.limits = limits
        # True when an rpm or tpm limit is set: only then does counting change any answer.
        # A plain attribute: it is read for every request.
        self.limited = limits.rpm is not None or limits.tpm is not None
        self._window = RollingCounts(_WINDOW, _BUCKETS, clock)
        self._clock = clock
        self._fleet: tuple[float, float] | None = None  # (free share fleet-wide, when heard)

    def note_fleet(self, free: float) -> bool:
        """The fleet-wide share of the limits still free, as shared_state last reported it;
        True when it moved enough to change a weight (callers then refresh cached weights)."""
        old = self._fleet
        self._fleet = (free, self._clock())
        return old is None or abs(old[0] - free) >= 0.01 or (free < LOW_FREE) != (old[0] < LOW_FREE)

    def configure(self, limits: Limits) -> None:
        """New limits from a reload; what was counted stays."""
        self.limits = limits
        self.limited = limits.rpm is not None or limits.tpm is not None

    def check(self, est_tokens: int = 0) -> tuple[str | None, float | None]:
        """(None, None) when a request of `est_tokens` fits now, else (reason, retry_at)."""
        rpm, tpm = self.limits.rpm, self.limits.tpm
        if rpm is None and tpm is None:
            return None, None
        used_requests, used_tokens = self._window.totals()
        if rpm is not None and used_requests + 1 > rpm:
            excess = used_requests + 1 - rpm
            return "rpm_limit", self._window.release_time(_REQUESTS, excess)
        if tpm is not None and est_tokens > 0 and used_tokens + est_tokens > tpm:
            # A request larger than the whole tpm would never fit: let it through alone
            # into an empty window rather than blocking it forever; the provider decides.
            if used_tokens > 0:
                excess = min(used_tokens + est_tokens - tpm, used_tokens)
                return "tpm_limit", self._window.release_time(_TOKENS, excess)
        return None, None

    def record(self, est_tokens: int = 0) -> None:
        self._window.add(_REQUESTS, 1)
        if est_tokens > 0:
            self._window.add(_TOKENS, est_tokens)

    def add_tokens(self, extra: int) -> None:
        """Count tokens beyond the estimate once the real usage is known.

        Only overshoots are added: subtracting an overestimate from a newer bucket than the
        one holding it would let the total go wrong when the older bucket expires first.
        """
        if extra > 0:
            self._window.add(_TOKENS, extra)

    def fraction(self) -> float | None:
        """Smallest share of rpm/tpm still free in the window (this pod's, or the fleet's when
        shared_state reported it lately); None when no limit is set."""
        rpm, tpm = self.limits.rpm, self.limits.tpm
        if rpm is None and tpm is None:
            return None
        used_requests, used_tokens = self._window.totals()
        shares = []
        if rpm:
            shares.append(1.0 - used_requests / rpm)
        if tpm:
            shares.append(1.0 - used_tokens / tpm)
        fleet = self._fleet
        if fleet is not None and self._clock() - fleet[1] <= FLEET_FRESH_S:
            shares.append(fleet[0])
        return min(1.0, max(0.0, min(shares))) if shares else None

    def snapshot(self) -> dict[str, Any]:
        used_requests, used_tokens = self._window.totals()
        return {
            "rpm": self.limits.rpm,
            "tpm": self.limits.tpm,
            "requests_last_60s": used_requests,
            "tokens_last_60s": used_tokens,
        }
