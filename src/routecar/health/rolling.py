"""Counters summed over a rolling time window, in a fixed number of buckets.

The breaker, the client-side rpm/tpm limiter and the retry budget all need "how many X in
the last N seconds". Keeping every event would grow without bound in a sidecar that runs
for months, so time is cut into `buckets` slots of `window / buckets` seconds each; a slot
is zeroed when time moves past it. Totals are kept incrementally, so reads are O(1) and
moving the clock costs at most one pass over the slots however long it stood still.
"""

from __future__ import annotations

import math

from .clock import Clock


class RollingCounts:
    __slots__ = ("window", "_n", "_width", "_clock", "_slots", "_totals", "_head")

    def __init__(self, window: float, buckets: int, clock: Clock, fields: int = 2) -> None:
        if window <= 0 or buckets < 1 or fields < 1:
            raise ValueError("window and buckets must be positive")
        self.window = float(window)
        self._n = buckets
        self._width = self.window / buckets
        self._clock = clock
        self._slots = [[0] * fields for _ in range(buckets)]
        self._totals = [0] * fields
        self._head = self._epoch()

    def _epoch(self) -> int:
        return math.floor(self._clock() / self._width)

    def _advance(self) -> None:
        epoch = self._epoch()
        if epoch <= self._head:
            return
        # Bounded: after one full window every slot is stale, so there is nothing more to zero.
        for step in range(1, min(epoch - self._head, self._n) + 1):
            slot = self._slots[(self._head + step) % self._n]
            for i, value in enumerate(slot):
                self._totals[i] -= value
                slot[i] = 0
        self._head = epoch

    def add(self, field: int, amount: int = 1) -> None:
        if math.floor(self._clock() / self._width) > self._head:  # a new bucket (rare under load)
            self._advance()
        self._slots[self._head % self._n][field] += amount
        self._totals[field] += amount

    def total(self, field: int) -> int:
        self._advance()
        return self._totals[field]

    def totals(self) -> tuple[int, ...]:
        self._advance()
        return tuple(self._totals)

    def reset(self) -> None:
        for slot in self._slots:
            for i in range(len(slot)):
                slot[i] = 0
        for i in range(len(self._totals)):
            self._totals[i] = 0

    def release_time(self, field: int, amount: int) -> float:
        """Monotonic instant by which at least `amount` of `field` has left the window.

        When the window does not hold that much, it is the instant the newest slot expires
        (the window is then empty).
        """
        self._advance()
        freed = 0
        oldest = self._head - self._n + 1
        for epoch in range(oldest, self._head + 1):
            freed += self._slots[epoch % self._n][field]
            if freed >= amount and freed > 0:
                return (epoch + self._n) * self._width
        return (self._head + self._n) * self._width
