"""Whether Redis is usable now, and how long to wait before asking again: pure logic.

`Availability` is a two-state machine, `available` and `unavailable`. A failed or timed-out
call moves it to unavailable; from then on calls are not attempted at all (a request pays
nothing for a Redis it knows is down) until a background PING succeeds. Each transition is
reported once, so the log gets one line per outage however many calls fail during it. It
also adds up the seconds spent unavailable, for the metrics.

`Backoff` spaces those PINGs: exponential from `initial` to `cap`, each delay jittered down by
up to half, so a fleet of pods that lost Redis together does not reconnect in lockstep.

Both take their clock and randomness from the caller, so tests drive them without sleeping.
"""

from __future__ import annotations

import random
from typing import Callable


class Availability:
    __slots__ = ("_clock", "_down_since", "_down_total", "outages", "up")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.up = True
        self._down_since = 0.0
        self._down_total = 0.0
        self.outages = 0

    def fail(self) -> bool:
        """A call failed. True when this moved the state to unavailable (log it, once)."""
        if not self.up:
            return False
        self.up = False
        self._down_since = self._clock()
        self.outages += 1
        return True

    def recover(self) -> float | None:
        """A PING succeeded: available again. The outage's length in seconds when this was a
        transition (log it, once), else None."""
        if self.up:
            return None
        self.up = True
        length = max(0.0, self._clock() - self._down_since)
        self._down_total += length
        return length

    def unavailable_seconds(self) -> float:
        """Total time spent unavailable, the current outage included."""
        current = max(0.0, self._clock() - self._down_since) if not self.up else 0.0
        return self._down_total + current


class Backoff:
    __slots__ = ("_next", "_rng", "cap", "initial")

    def __init__(self, initial: float = 0.25, cap: float = 10.0, rng: Callable[[], float] = random.random) -> None:
        if initial <= 0 or cap < initial:
            raise ValueError("backoff needs 0 < initial <= cap")
        self.initial = initial
        self.cap = cap
        self._rng = rng
        self._next = initial

    def reset(self) -> None:
        self._next = self.initial

    def delay(self) -> float:
        """The next wait: the current step jittered into [step/2, step], then the step doubles."""
        step = self._next
        self._next = min(self.cap, step * 2)
        return step * (0.5 + 0.5 * self._rng())
