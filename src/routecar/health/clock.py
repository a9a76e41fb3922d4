"""Clocks for the health state machines.

Every state machine here takes a `Clock` (monotonic seconds) instead of calling `time`
itself, so tests drive time by hand and never sleep. `ManualClock` is that hand; it lives in
the package (not in tests) because the dispatcher's and router's tests need the same thing.
"""

from __future__ import annotations

from typing import Callable

Clock = Callable[[], float]


class ManualClock:
    """A clock that only moves when told to: `clock()` reads it, `advance(dt)` moves it."""

    __slots__ = ("now",)

    def __init__(self, start: float = 1000.0) -> None:
        # A non-zero start keeps tests honest about code that treats 0.0 as "never".
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a monotonic clock never goes back")
        self.now += seconds
        return self.now

    def set(self, now: float) -> None:
        if now < self.now:
            raise ValueError("a monotonic clock never goes back")
        self.now = float(now)
