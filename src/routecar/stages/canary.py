"""Canary verdicts (`routes.NAME.canary`): each finished request of a canary route tells the
long-lived monitor how the side it landed on fared, so a bad canary is rolled back."""

from __future__ import annotations

from ..config.model import Config
from ..router.canary import CanaryMonitor
from .base import Stage
from .exchange import Exchange
from .routes import related

# Outcomes that say something about the model that served (or failed) the request; the rest
# (the app hung up, a bad request, a budget) would skew a canary's error rate.
_JUDGED = frozenset({"ok", "upstream_error", "rate_limited", "circuit_open", "timeout", "stream_broken"})
# Cache hits answer in microseconds: counting them would flatter whichever side they land on.
_CACHE_HITS = frozenset({"hit", "semantic_hit"})


class CanaryStage(Stage):
    name = "canary"

    def __init__(self, config: Config, monitor: CanaryMonitor) -> None:
        self.config = config
        self.monitor = monitor
        self._routes = frozenset(name for name in config.routes
                                 if any(r.canary is not None for r in related(config, name)))

    def applies_to(self, route: str | None) -> bool:
        return route in self._routes

    def after_outcome(self, ex: Exchange) -> None:
        plan, record = ex.plan, ex.record
        route = self.config.routes.get(plan.route) if plan is not None and plan.route else None
        if route is None or route.canary is None or record.outcome not in _JUDGED or record.cache in _CACHE_HITS:
            return
        ok = record.outcome == "ok"
        if plan.canary:
            # A canary that failed over to the baseline failed, whatever the row's outcome.
            ok = ok and record.chosen_model == route.canary.model
        self.monitor.record(route.name, plan.canary, ok, record.latency_ms / 1000)
