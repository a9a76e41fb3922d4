"""Retry budget (Envoy-style, docs/failure-semantics.md): retries may add only a share of live traffic.

Over the last 10 seconds, retries (and failovers) are allowed while they stay within
`ratio` x requests, with a floor of `min_per_second` x 10 so a quiet sidecar can still retry.
During a provider outage every request fails and wants a retry; the budget is what keeps the
sidecar from multiplying load on the provider (and on the next one) by max_attempts.
"""

from __future__ import annotations

from typing import Any

from .clock import Clock
from .rolling import RollingCounts

WINDOW = 10.0
_BUCKETS = 10
_REQUESTS, _RETRIES = 0, 1


class RetryBudget:
    __slots__ = ("ratio", "min_per_second", "_window")

    def __init__(self, ratio: float, min_per_second: float, clock: Clock) -> None:
        self.ratio = ratio
        self.min_per_second = min_per_second
        self._window = RollingCounts(WINDOW, _BUCKETS, clock)

    def reconfigure(self, ratio: float, min_per_second: float) -> None:
        self.ratio = ratio
        self.min_per_second = min_per_second

    def record_request(self) -> None:
        """Count one request from the app (once per request, not per attempt)."""
        self._window.add(_REQUESTS)

    def allowance(self) -> float:
        """How many retries the current window allows in total."""
        requests = self._window.total(_REQUESTS)
        return max(self.ratio * requests, self.min_per_second * WINDOW)

    def try_acquire_retry(self) -> bool:
        """Take one retry from the budget; False (and nothing taken) when it is spent."""
        if self._window.total(_RETRIES) + 1 > self.allowance():
            return False
        self._window.add(_RETRIES)
        return True

    def snapshot(self) -> dict[str, Any]:
        requests, retries = self._window.totals()
        return {
            "ratio": self.ratio,
            "min_per_second": self.min_per_second,
            "window_s": WINDOW,
            "requests": requests,
            "retries": retries,
            "allowed": round(self.allowance(), 2),
        }
