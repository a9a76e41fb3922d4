"""A point in time after which an exchange's waits fail: one `loop.call_at` timer, never a
task cancellation.

Why not `asyncio.timeout()` around the attempt: it works by cancelling the task, and on
Python 3.11 a cancellation that fires just as the awaited future completes can survive the
timeout block and land on a later, unrelated await. Why not a shared ticker that reads the
task's private waiter (what routecar did before): it skipped a due deadline whenever the task
was about to resume, so an upstream that kept sending bytes (comments, a trickled body)
never timed out.

A `Deadline` instead fails the waits it guards. When the timer fires it marks the deadline
expired and fails every guarded wait still pending with `DeadlineExceeded`; a wait that starts
after that fails at once, data buffered or not (readers check `expired` before handing out
what they hold). So the deadline fires whatever the peer sends, and nothing outside the
exchange is touched. Expiry is final: moving an expired deadline does not revive it.

Moving the deadline later is free (an attribute store): the timer, when it fires early, sees
that the deadline moved and re-arms itself for the new time. Moving it earlier re-arms at
once. A stream that pushes its idle deadline on every event thus costs about one timer per
idle period, not one per event. `NEVER` suspends it (the armed timer finds nothing due).
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from .errors import DeadlineExceeded

T = TypeVar("T")

NEVER = float("inf")
# uvloop's clock and timers have millisecond resolution: a timer may run up to a millisecond
# before `when` as loop.time() reads it. Within this slack the deadline counts as due.
_SLACK_S = 0.001


class Deadline:
    """When the exchange must be over, on the event loop's clock (`loop.time()`)."""

    __slots__ = ("_loop", "when", "expired", "_handle", "_armed_for", "_waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop, when: float = NEVER):
        self._loop = loop
        self.when = when  # read it freely; change it with move()
        self.expired = False
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for = NEVER
        # The futures being waited on through wait(): usually one; more if the exchange's
        # parts (say, two hedged requests) share the deadline.
        self._waiters: list[asyncio.Future[Any]] = []
        if when != NEVER:
            self._arm(when)

    def move(self, when: float) -> None:
        """Set a new deadline (later or earlier); `NEVER` suspends it. No effect once expired."""
        self.when = when
        if self.expired:
            return
        if when < self._armed_for:
            if self._handle is not None:
                self._handle.cancel()
            self._arm(when)

    def cancel(self) -> None:
        """The exchange is over: the timer goes, and nothing will fire (until a later move)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._armed_for = NEVER
        self.when = NEVER

    def remaining(self) -> float:
        return self.when - self._loop.time()

    async def wait(self, fut: asyncio.Future[T]) -> T:
        """Await `fut`, failing with DeadlineExceeded once the deadline passes (also when it
        has passed already). `fut` is left as it is on expiry: its owner cleans it up."""
        self.check()
        waiters = self._waiters
        waiters.append(fut)
        try:
            return await fut
        finally:
            waiters.remove(fut)

    def check(self) -> None:
        """Raise DeadlineExceeded if the deadline has passed (for paths that do not wait)."""
        if not self.expired and self.when != NEVER and self._loop.time() >= self.when:
            self._expire()  # due, though the timer has not run yet
        if self.expired:
            raise DeadlineExceeded("deadline passed")

    # -- the timer ------------------------------------------------------------------------

    def _arm(self, when: float) -> None:
        self._armed_for = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed_for = NEVER
        when = self.when
        if when == NEVER:
            return
        if self._loop.time() + _SLACK_S < when:
            self._arm(when)  # moved later since the timer was set
            return
        self._expire()

    def _expire(self) -> None:
        self.expired = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._armed_for = NEVER
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(DeadlineExceeded("deadline passed"))
