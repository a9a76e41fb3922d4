"""Circuit breaker per deployment (docs/failure-semantics.md): closed, open, half-open.

Trips on a failure *rate* over a rolling window once the window holds enough requests to
judge (so one early failure never opens a quiet deployment), or on a run of consecutive
failures (so a dead deployment with little traffic still opens quickly). A successful close
forgets the trips.

The open time grows only with *real* trips: a trip from closed, or a failed probe admitted
after the open period ran out. Each doubles it up to `max_open_for`, so an outage that
persists is probed less and less often. A probe let in early, before the open period ran out
(panic mode, or an active health check that found the provider answering), re-opens from now
for the current open time when it fails, without growing it: during a full outage every
request sends a panic probe, and if each failed one doubled the open time, half a minute of
outage would bench a healthy deployment for `max_open_for` after it recovered.
"""

from __future__ import annotations

from typing import Any

from ..config.model import BreakerConfig
from .clock import Clock
from .rolling import RollingCounts

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

_BUCKETS = 10
_SUCCESS, _FAILURE = 0, 1


class CircuitBreaker:
    __slots__ = (
        "config",
        "_clock",
        "_window",
        "_state",
        "_consecutive",
        "_trips",
        "_open_until",
        "_probes",
        "_probe_successes",
    )

    def __init__(self, config: BreakerConfig, clock: Clock) -> None:
        self.config = config
        self._clock = clock
        self._window = RollingCounts(config.window, _BUCKETS, clock)
        self._state = CLOSED
        self._consecutive = 0
        self._trips = 0
        self._open_until: float | None = None
        self._probes = 0
        self._probe_successes = 0

    # -- reading ---------------------------------------------------------------------------

    def _refresh(self) -> None:
        # Open -> half-open happens lazily on the next read: there is no timer to fire it.
        if self._state == OPEN and self._open_until is not None:
            if self._clock() >= self._open_until:
                self._state = HALF_OPEN
                self._probes = 0
                self._probe_successes = 0

    @property
    def state(self) -> str:
        if self._state == OPEN:  # read on every admission: the closed case is one comparison
            self._refresh()
        return self._state

    @property
    def open_until(self) -> float | None:
        """Monotonic end of the current open period, None unless open."""
        self._refresh()
        return self._open_until if self._state == OPEN else None

    @property
    def trips(self) -> int:
        return self._trips

    @property
    def probes_in_flight(self) -> int:
        return self._probes

    def error_rate(self) -> float:
        successes, failures = self._window.totals()
        total = successes + failures
        return failures / total if total else 0.0

    def would_allow(self) -> bool:
        """What `allow()` would answer, without reserving anything."""
        state = self.state
        if state == CLOSED:
            return True
        return state == HALF_OPEN and self._probes < self.config.half_open_probes

    # -- admission -------------------------------------------------------------------------

    def allow(self) -> bool:
        """May a request go now? In half-open, a True reserves one of the probe slots."""
        state = self.state
        if state == CLOSED:
            return True
        if state == HALF_OPEN and self._probes < self.config.half_open_probes:
            self._probes += 1
            return True
        return False

    def release_probe(self) -> None:
        """Give back a probe slot whose request ended without a verdict (cancel, 4xx, 429)."""
        if self._probes > 0:
            self._probes -= 1

    def force_probe(self) -> None:
        """End the open period early so the next `allow()` admits a probe: panic mode, or an
        active health check that found the provider answering.

        The trip count and the deadline of the open period are kept: that is how a failure of
        the probe tells it was let in early (see `record_failure`).
        """
        self._refresh()
        if self._state == OPEN:
            self._state = HALF_OPEN
            self._probes = 0
            self._probe_successes = 0

    # -- results ---------------------------------------------------------------------------

    # `probe` says whether the result is that of a request admitted as a half-open probe.
    # False marks a straggler admitted before the trip: it must neither close the breaker
    # nor free a probe slot. None (unknown) counts it as a probe, which at worst closes on
    # a straggler's success; that is evidence of health all the same.

    def record_success(self, probe: bool | None = None) -> None:
        state = self.state
        if state == CLOSED:
            self._consecutive = 0
            self._window.add(_SUCCESS)
        elif state == HALF_OPEN and probe is not False:
            self.release_probe()
            self._probe_successes += 1
            if self._probe_successes >= self.config.half_open_probes:
                self._close()
        # While open, results of requests admitted before the trip change nothing.

    def record_failure(self, probe: bool | None = None) -> None:
        state = self.state
        if state == CLOSED:
            self._consecutive += 1
            self._window.add(_FAILURE)
            if self._should_trip():
                self._trip()
        elif state == HALF_OPEN and probe is not False:
            # A probe let in before the open period ran out (forced) re-opens for the current
            # open time; only one admitted after it ran out is a real trip, which grows it.
            early = self._open_until is not None and self._clock() < self._open_until
            self._open(grow=not early)

    def _should_trip(self) -> bool:
        cfg = self.config
        if self._consecutive >= cfg.consecutive_failures:
            return True
        successes, failures = self._window.totals()
        total = successes + failures
        return total >= cfg.min_requests and failures / total >= cfg.failure_rate

    def _open_time(self) -> float:
        cfg = self.config
        # The exponent is clamped so a breaker tripping for months never overflows a float.
        grown = cfg.open_for * 2.0 ** min(self._trips - 1, 32)
        return min(grown, max(cfg.max_open_for, cfg.open_for))

    def _trip(self) -> None:
        self._open(grow=True)

    def _open(self, grow: bool) -> None:
        """Open from now: for a grown time after a real trip, for the current one otherwise."""
        if grow:
            self._trips += 1
        deadline = self._clock() + self._open_time()
        # A re-trip sets the new, longer deadline; never an older, shorter one.
        if self._open_until is None or deadline > self._open_until:
            self._open_until = deadline
        self._state = OPEN
        self._probes = 0
        self._probe_successes = 0

    def _close(self) -> None:
        self._state = CLOSED
        self._open_until = None
        self._trips = 0
        self._consecutive = 0
        self._probes = 0
        self._probe_successes = 0
        self._window.reset()

    # -- lifecycle -------------------------------------------------------------------------

    def reconfigure(self, config: BreakerConfig) -> None:
        """Take a new config on hot reload, keeping state (and counts when the window holds)."""
        if config == self.config:
            return
        if config.window != self.config.window:
            self._window = RollingCounts(config.window, _BUCKETS, self._clock)
        self.config = config
        if self._open_until is not None and self._state != CLOSED:
            # A shorter configured cap takes effect now rather than after a long old period
            # (also for a deadline kept through an early half-open, which a failed probe reuses).
            latest = self._clock() + max(config.max_open_for, config.open_for)
            self._open_until = min(self._open_until, latest)

    def snapshot(self) -> dict[str, Any]:
        state = self.state
        successes, failures = self._window.totals()
        now = self._clock()
        return {
            "state": state,
            "open_until": None
            if self._open_until is None or state != OPEN
            else round(max(0.0, self._open_until - now), 3),
            "trips": self._trips,
            "consecutive_failures": self._consecutive,
            "window_requests": successes + failures,
            "window_failures": failures,
            "error_rate": round(self.error_rate(), 4),
            "probes_in_flight": self._probes,
        }
