"""The health the router saw, rebuilt from the log: the real HealthRegistry of the NEW config,
on a clock set to each row's time, fed each logged attempt's outcome and latency in time order.

Each attempt starts when the one before it in its row ended (the row's arrival for the first;
backoff sleeps are not logged and are left out) and ends one logged latency later. What the log
cannot tell (rate-limit headers, active health checks, probe admissions) is not replayed.
"""

from __future__ import annotations

import dataclasses
import heapq
from typing import Any

from ..config.model import Config
from ..health.clock import ManualClock
from ..health.registry import HealthRegistry
from ..health.values import AttemptResult


def health_kind(error: str | None, status: int | None) -> str:
    """The health result of a logged attempt, as the dispatcher classified it (AttemptFailure)."""
    if not error:
        return "success"
    if error == "http_429":
        return "rate_limited"
    if status == 529:
        return "overloaded"
    if error.startswith("http_") and status is not None and status < 500:
        return "neutral"  # the request's fault, not the deployment's
    return "failure"


class HealthReplay:
    """Attempts become two timed events, a start at the row's time plus the attempts before it,
    and a finish one latency later; `at(ts)` applies every event due by `ts` in time order, so
    the router deciding the row at `ts` sees exactly the attempts that had ended by then (and
    those still in flight). The heap holds the attempts in flight: bounded by the concurrency
    the log saw."""

    def __init__(self, config: Config, start: float = 0.0) -> None:
        self.clock = ManualClock(start)
        # Both clocks are the row's unix time: the log has no monotonic readings.
        self.registry = HealthRegistry(config, clock=self.clock, wall_clock=self.clock)
        self._events: list[tuple[float, int, str, AttemptResult | None]] = []
        self._seq = 0  # ties: starts and finishes in the order they were scheduled
        self._probe: dict[int, bool] = {}  # finish event's seq -> its start's admission.probe

    def at(self, ts: float) -> None:
        """Moves the clock to `ts`, applying the events due by then."""
        events, reg, clock = self._events, self.registry, self.clock
        while events and events[0][0] <= ts:
            when, seq, dep_id, result = heapq.heappop(events)
            if when > clock.now:
                clock.set(when)
            if result is None:
                # As the dispatcher: admit first (it takes a half-open probe slot, which the
                # router reads), then start. The logged attempt happened whatever admit says.
                self._probe[seq + 1] = reg.admit(dep_id).probe
                reg.on_start(dep_id)
            else:
                probe = self._probe.pop(seq, None)
                reg.on_finish(dep_id, result if probe is None else dataclasses.replace(result, probe=probe))
        if ts > clock.now:
            clock.set(ts)

    def feed(self, ts: float, attempts: list[dict[str, Any]] | None) -> None:
        """Schedules one row's logged attempts, back to back from its arrival at `ts`."""
        reg, events = self.registry, self._events
        start = ts
        for a in attempts or ():
            if not isinstance(a, dict):
                continue
            latency, ttft = a.get("latency_ms") or 0.0, a.get("ttft_ms")
            dep_id = f"{a.get('provider')}/{a.get('model')}"
            end = start + latency / 1000.0
            if dep_id in reg:  # else a deployment the NEW config does not have
                result = AttemptResult(
                    health_kind(a.get("error"), a.get("status")), status=a.get("status"),
                    latency=latency / 1000.0, ttft=None if ttft is None else ttft / 1000.0)
                heapq.heappush(events, (start, self._seq, dep_id, None))
                heapq.heappush(events, (end, self._seq + 1, dep_id, result))
                self._seq += 2
            start = end
