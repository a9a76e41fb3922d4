"""A point in time after which an exchange's waits fail, never by cancelling a task.

Why not `asyncio.timeout()` around the attempt: it works by cancelling the task, and on
Python 3.11 a cancellation that fires just as the awaited future completes can survive the
timeout block and land on a later, unrelated await. Why not a ticker that reads the task's
private waiter (what routecar once did): it skipped a due deadline whenever the task was about
to resume, so an upstream that kept sending bytes (comments, a trickled body) never timed out.

A `Deadline` instead fails the waits it guards. When it is found due, it is marked expired and
every guarded wait still pending fails with `DeadlineExceeded`; a wait that starts after that
fails at once, data buffered or not (readers check before handing out what they hold), and so
does any wait that starts once the time has come, whether or not the deadline was found due
yet. So a deadline fires whatever the peer sends, and nothing outside the exchange is touched.
Expiry is final: moving an expired deadline does not revive it.

Finding them due is one `DeadlineTicker` per event loop: a `loop.call_later` every TICK_S
while any deadline is armed, which looks at each armed deadline's time. It cannot skip one:
it does not care what the waiting task is doing. Arming is a set insert and moving a deadline
an attribute store, against a loop timer per attempt (a libuv heap insert and removal, and a
re-arm per stream event for idle timeouts): routecar's budgets are hundreds of milliseconds
to minutes, so firing up to TICK_S late loses nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from .errors import DeadlineExceeded

T = TypeVar("T")

NEVER = float("inf")
TICK_S = 0.01


class DeadlineTicker:
    """The deadlines of one event loop. Make one per loop (whoever sends requests on it)."""

    __slots__ = ("loop", "_armed", "_handle")

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self._armed: set[Deadline] = set()
        self._handle: asyncio.TimerHandle | None = None

    def deadline(self, when: float = NEVER) -> Deadline:
        return Deadline(self, when)

    @property
    def armed(self) -> int:
        return len(self._armed)

    def _watch(self, deadline: Deadline) -> None:
        self._armed.add(deadline)
        if self._handle is None:
            self._handle = self.loop.call_later(TICK_S, self._tick)

    def _forget(self, deadline: Deadline) -> None:
        self._armed.discard(deadline)

    def _tick(self) -> None:
        now = self.loop.time()
        armed = self._armed
        due = [d for d in armed if d.when <= now]
        for d in due:
            armed.discard(d)
            d._expire()
        # Runs only while something is armed: an idle sidecar has no timer at all.
        self._handle = self.loop.call_later(TICK_S, self._tick) if armed else None


class Deadline:
    """When the exchange must be over, on the event loop's clock (`loop.time()`)."""

    __slots__ = ("_ticker", "when", "expired", "_watched", "_waiters")

    def __init__(self, ticker: DeadlineTicker, when: float = NEVER):
        self._ticker = ticker
        self.when = when  # read it freely; change it with move()
        self.expired = False
        self._watched = False
        # The futures being waited on through wait(): usually one; more if the exchange's
        # parts (say, two hedged requests) share the deadline.
        self._waiters: list[asyncio.Future[Any]] = []
        if when != NEVER:
            self._watched = True
            ticker._watch(self)

    def move(self, when: float) -> None:
        """Set a new deadline (later or earlier); `NEVER` suspends it. No effect once expired."""
        self.when = when
        if not self._watched and not self.expired and when != NEVER:
            self._watched = True
            self._ticker._watch(self)

    def cancel(self) -> None:
        """The exchange is over: nothing will fire (until a later move)."""
        if self._watched:
            self._watched = False
            self._ticker._forget(self)
        self.when = NEVER

    def remaining(self) -> float:
        return self.when - self._ticker.loop.time()

    async def wait(self, fut: asyncio.Future[T]) -> T:
        """Await `fut`, failing with DeadlineExceeded once the deadline passes (also when it
        has passed already). `fut` is left as it is on expiry: its owner cleans it up."""
        self.guard(fut)
        try:
            return await fut
        finally:
            self.unguard(fut)

    def guard(self, fut: asyncio.Future[Any]) -> None:
        """`wait` in two halves, for hot paths that await `fut` themselves (one coroutine
        frame fewer per wait): raises DeadlineExceeded if the deadline has passed, else `fut`
        fails with it when the deadline passes, until `unguard(fut)`."""
        self.check()
        self._waiters.append(fut)

    def unguard(self, fut: asyncio.Future[Any]) -> None:
        self._waiters.remove(fut)

    def check(self) -> None:
        """Raise DeadlineExceeded if the deadline has passed (for paths that do not wait)."""
        if not self.expired and self.when != NEVER and self._ticker.loop.time() >= self.when:
            self._expire()  # due, though the ticker has not looked yet
        if self.expired:
            raise DeadlineExceeded("deadline passed")

    def _expire(self) -> None:
        if self._watched:
            self._watched = False
            self._ticker._forget(self)
        self.expired = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(DeadlineExceeded("deadline passed"))
