"""Latency and time-to-first-token windows: the last N samples, in fixed memory.

The newest `size` samples are kept in arrival order beside a sorted copy of their values.
Each new sample (and each one that leaves) updates the sorted copy by bisection, so reading
p50/p95/p99 is an index lookup rather than a sort per read; the router reads these on every
request, the dispatcher adds one sample per answer.

Samples older than `max_age` are dropped, so a provider that was slow ten minutes ago and
has since recovered is measured afresh instead of being judged on its past.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque

from .clock import Clock

DEFAULT_SIZE = 256
DEFAULT_MAX_AGE = 300.0


def _at(live: list[float], q: float) -> float:
    """The q-th percentile (0..100) of sorted, non-empty `live`, linearly interpolated."""
    rank = (len(live) - 1) * min(max(q, 0.0), 100.0) / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(live) - 1)
    return live[low] + (live[high] - live[low]) * (rank - low)


class LatencyWindow:
    __slots__ = ("size", "max_age", "_clock", "_arrivals", "_sorted", "changes")

    def __init__(self, clock: Clock, size: int = DEFAULT_SIZE,
                 max_age: float = DEFAULT_MAX_AGE) -> None:
        if size < 1:
            raise ValueError("size must be positive")
        self.size = size
        self.max_age = max_age
        self._clock = clock
        self._arrivals: deque[tuple[float, float]] = deque()  # (time, value), oldest first
        self._sorted: list[float] = []
        # Samples added or dropped so far: lets a reader that cached percentiles tell how far
        # the window has moved since.
        self.changes = 0

    def _drop_oldest(self) -> None:
        _, value = self._arrivals.popleft()
        del self._sorted[bisect_left(self._sorted, value)]
        self.changes += 1

    def add(self, value: float) -> None:
        if not math.isfinite(value) or value < 0:
            return
        if len(self._arrivals) >= self.size:
            self._drop_oldest()
        self._arrivals.append((self._clock(), value))
        insort(self._sorted, value)
        self.changes += 1

    def _live(self) -> list[float]:
        cutoff = self._clock() - self.max_age
        arrivals = self._arrivals
        # Bounded by `size`: arrivals are in time order, so expired ones are all at the front.
        while arrivals and arrivals[0][0] < cutoff:
            self._drop_oldest()
        return self._sorted

    @property
    def count(self) -> int:
        return len(self._live())

    @property
    def mean(self) -> float | None:
        live = self._live()
        return math.fsum(live) / len(live) if live else None

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (0..100), linearly interpolated; None without samples."""
        live = self._live()
        return _at(live, q) if live else None

    def summary(self) -> tuple[float | None, float | None, float | None, int]:
        """(p50, p95, p99, count) from one read of the window: what a health view holds."""
        live = self._live()
        if not live:
            return None, None, None, 0
        return _at(live, 50), _at(live, 95), _at(live, 99), len(live)

    @property
    def p50(self) -> float | None:
        return self.percentile(50)

    @property
    def p95(self) -> float | None:
        return self.percentile(95)

    @property
    def p99(self) -> float | None:
        return self.percentile(99)

    def clear(self) -> None:
        self._arrivals.clear()
        self._sorted.clear()
        self.changes += 1
