"""Canary outcome tracking and automatic rollback.

The server feeds every outcome of a route that has a canary; the monitor keeps a bounded
window per arm and turns the canary off when it is clearly worse than the rest of the route:
its error rate exceeds the baseline's by more than `max_error_rate_delta`, or its p95 latency
exceeds the baseline's by more than `max_p95_ratio` times, judged only once both arms have
`min_requests` outcomes. A rollback holds until the canary's config changes (new model or
percent) or `reset()`; the monitor outlives config snapshots, the router only reads it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..config.model import CanaryConfig, Config
from ..config.routes import ROLLBACK_DEFAULTS  # one set of defaults, whether or not `rollback` is written
WINDOW = 500  # outcomes kept per arm: recent enough to react, large enough for a p95


def rollback_settings(canary: CanaryConfig) -> dict[str, float]:
    settings = dict(ROLLBACK_DEFAULTS)
    settings.update(canary.rollback or {})
    return settings


@dataclass(slots=True)
class _Arm:
    outcomes: deque = field(default_factory=lambda: deque(maxlen=WINDOW))  # (ok, latency)

    def error_rate(self) -> float:
        return sum(1 for ok, _ in self.outcomes if not ok) / len(self.outcomes)

    def p95(self) -> float | None:
        lat = sorted(latency for ok, latency in self.outcomes if ok)
        return lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else None


@dataclass(slots=True)
class _RouteCanary:
    model: str
    percent: float
    settings: dict[str, float]
    canary: _Arm = field(default_factory=_Arm)
    baseline: _Arm = field(default_factory=_Arm)
    disabled_reason: str | None = None


class CanaryMonitor:
    """In-memory canary state per route (bounded: one entry per route with a canary)."""

    def __init__(self) -> None:
        self._routes: dict[str, _RouteCanary] = {}

    def configure(self, config: Config) -> None:
        """Follow a new config snapshot: keep state of unchanged canaries, reset changed ones."""
        fresh: dict[str, _RouteCanary] = {}
        for name, route in config.routes.items():
            if route.canary is None:
                continue
            old = self._routes.get(name)
            settings = rollback_settings(route.canary)
            same = old is not None and (old.model, old.percent) == (
                route.canary.model, route.canary.percent)
            if same:
                old.settings = settings
                fresh[name] = old
            else:
                fresh[name] = _RouteCanary(route.canary.model, route.canary.percent, settings)
        self._routes = fresh

    def enabled(self, route: str) -> bool:
        state = self._routes.get(route)
        return state is None or state.disabled_reason is None

    def disabled_reason(self, route: str) -> str | None:
        state = self._routes.get(route)
        return None if state is None else state.disabled_reason

    def reset(self, route: str) -> None:
        state = self._routes.get(route)
        if state is not None:
            self._routes[route] = _RouteCanary(state.model, state.percent, state.settings)

    def record(self, route: str, is_canary: bool, ok: bool, latency: float) -> None:
        state = self._routes.get(route)
        if state is None or state.disabled_reason is not None:
            return
        (state.canary if is_canary else state.baseline).outcomes.append((ok, latency))
        if is_canary:
            # Judged on canary outcomes only: they are the rare ones, so this stays cheap.
            state.disabled_reason = self._verdict(state)

    @staticmethod
    def _verdict(state: _RouteCanary) -> str | None:
        need = state.settings["min_requests"]
        if len(state.canary.outcomes) < need or len(state.baseline.outcomes) < need:
            return None
        c_err, b_err = state.canary.error_rate(), state.baseline.error_rate()
        if c_err - b_err > state.settings["max_error_rate_delta"]:
            return (f"canary {state.model} rolled back: error rate {c_err:.0%} vs {b_err:.0%} "
                    f"(> +{state.settings['max_error_rate_delta']:.0%})")
        c_p95, b_p95 = state.canary.p95(), state.baseline.p95()
        if c_p95 is not None and b_p95 and c_p95 / b_p95 > state.settings["max_p95_ratio"]:
            return (f"canary {state.model} rolled back: p95 {c_p95:.2f}s vs {b_p95:.2f}s "
                    f"(> {state.settings['max_p95_ratio']:g}x)")
        return None

    def snapshot(self) -> dict[str, Mapping[str, Any]]:
        """For GET /state: per route, the canary's model, sample counts and verdict."""
        return {
            name: {
                "model": s.model,
                "percent": s.percent,
                "canary_samples": len(s.canary.outcomes),
                "baseline_samples": len(s.baseline.outcomes),
                "disabled": s.disabled_reason,
            }
            for name, s in self._routes.items()
        }
