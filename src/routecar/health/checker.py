"""Active health checks of open circuits: which providers are due a probe, what a result does.

A circuit left to itself stays open for its whole open time even when the provider came back
a second after the trip. Like Envoy's and Caddy's active health checks, routecar probes the
provider of every open circuit every `interval` and ends the open period as soon as a probe
succeeds; the next real request then goes as the half-open probe that closes the circuit (a
models list proves the provider answers with this key, not that inference works, so real
traffic has the last word). A failed probe changes nothing: it neither extends nor grows the
open period.

One probe per provider per round: the models list is the provider's, whatever the deployment,
so its result applies to all of that provider's open deployments. Closed (and half-open)
circuits are never probed, so a healthy fleet sends no extra requests.

This module is only the schedule and the bookkeeping (no I/O, no awaits, an injected clock and
random source); `dispatch/health_probe.py` sends the probes and feeds the results back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from .clock import Clock
from .registry import HealthRegistry

# Each wait between probes is `interval` times a factor drawn from 1 +/- JITTER, so a fleet of
# sidecars whose circuits opened together on one outage does not probe the provider in lockstep.
JITTER = 0.1


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """One probe to send: a provider, and its deployments whose circuit was open when it was due."""

    provider: str
    deployments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one probe found: `reason` is short and fixed ("HTTP 200", "timeout"), never the
    provider's own text, which could echo a key."""

    ok: bool
    reason: str


class HealthChecker:
    """The schedule of active health checks over one `HealthRegistry`.

    A provider's first probe is due one (jittered) interval after its first open circuit was
    seen, not at once: the trip itself was the latest news. Call `due()` often (each call is a
    pass over the deployments, no I/O); it returns the probes to send now and schedules each
    provider's next one, so a round that runs late never sends a probe twice.
    """

    def __init__(self, registry: HealthRegistry, interval: float, clock: Clock,
                 rng: Callable[[], float] = random.random) -> None:
        self.registry = registry
        self.interval = interval
        self.clock = clock  # public: the task driving rounds reads the same time
        self._rng = rng
        self._next: dict[str, float] = {}  # provider -> monotonic instant its next probe is due

    def reconfigure(self, interval: float) -> None:
        """A new interval applies from each provider's next scheduled probe on."""
        self.interval = interval

    def _period(self) -> float:
        return self.interval * (1.0 + JITTER * (2.0 * self._rng() - 1.0))

    def due(self) -> list[ProbeTarget]:
        """The probes to send now, one per provider with an open circuit whose time has come."""
        now = self.clock()
        open_by_provider = self.registry.open_by_provider()
        # A provider with no open circuit left is forgotten: its next outage starts afresh.
        schedule = {p: at for p, at in self._next.items() if p in open_by_provider}
        targets = []
        for provider, dep_ids in open_by_provider.items():
            at = schedule.get(provider)
            if at is None:
                schedule[provider] = now + self._period()
            elif at <= now:
                schedule[provider] = now + self._period()
                targets.append(ProbeTarget(provider, tuple(dep_ids)))
        self._next = schedule
        return targets

    def next_due(self) -> float | None:
        """The monotonic instant of the soonest scheduled probe; None when none is scheduled."""
        return min(self._next.values(), default=None)

    def record(self, target: ProbeTarget, result: ProbeResult) -> list[str]:
        """Apply a probe's result to the deployments it was sent for; returns the ids whose
        open period it ended. Deployments that opened while it was out are left alone: their
        own trip is newer evidence than this probe."""
        return self.registry.on_health_check(target.deployments, result.ok, result.reason)
