"""Attempt deadlines on one shared ticker instead of a loop timer per attempt.

`asyncio.timeout()` costs ~8 µs per use on uvloop (a timer handle armed, moved and cancelled
through libuv), and a stream moved its idle timer after every chunk. Upstream budgets are
hundreds of milliseconds to minutes, so a 10 ms resolution loses nothing: arming a deadline
is a dict insert, moving it is an attribute store, and one ticker per event loop runs only
while some deadline is armed.

Firing works like `asyncio.timeout()`: the attempt's task is cancelled, and the attempt,
seeing `expired(deadline)`, turns that cancellation back into a timeout (`uncancel`), unless
the task was also cancelled from outside (the app hung up), which then wins. A task is only
cancelled while it waits on a future that is still pending: one whose result is already in
is left to resume (the deadline stays armed for the next tick), so a cancellation can never
land on a later await outside the attempt, the race `asyncio.timeout()` has on Python 3.11.
"""

from __future__ import annotations

import asyncio
from typing import Any

TICK_S = 0.01


class Deadline:
    __slots__ = ("when", "task", "fired", "_base")

    def __init__(self, when: float, task: asyncio.Task[Any]):
        self.when = when
        self.task = task
        self.fired = False
        self._base = task.cancelling()


class Ticker:
    """The deadlines armed on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self._armed: dict[Deadline, None] = {}
        self._handle: asyncio.TimerHandle | None = None

    def arm(self, when: float) -> Deadline:
        task = asyncio.current_task(self.loop)
        if task is None:
            raise RuntimeError("deadlines need a task")
        deadline = Deadline(when, task)
        self._armed[deadline] = None
        if self._handle is None:
            self._handle = self.loop.call_later(TICK_S, self._tick)
        return deadline

    def disarm(self, deadline: Deadline) -> None:
        self._armed.pop(deadline, None)

    def _tick(self) -> None:
        now = self.loop.time()
        armed = self._armed
        due = [d for d in armed if d.when <= now]
        for d in due:
            waiting_on = d.task._fut_waiter
            if waiting_on is None or waiting_on.done():
                continue  # running or about to resume: it gets the next tick
            del armed[d]
            d.fired = True
            d.task.cancel()
        self._handle = self.loop.call_later(TICK_S, self._tick) if armed else None


_current: tuple[asyncio.AbstractEventLoop | None, Ticker | None] = (None, None)


def ticker(loop: asyncio.AbstractEventLoop) -> Ticker:
    """The ticker of `loop` (one per loop; a new loop, as in tests, gets its own)."""
    global _current
    if _current[0] is not loop:
        _current = (loop, Ticker(loop))
    t = _current[1]
    assert t is not None
    return t


def expired(deadline: Deadline) -> bool:
    """Called on CancelledError: True when it was this deadline (and only it) that cancelled."""
    if not deadline.fired:
        return False
    return deadline.task.uncancel() <= deadline._base
