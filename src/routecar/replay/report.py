"""The replay's totals, per route (the name the app asked for) and overall."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Why NEW would refuse a request (the replay's `rejected` keys).
REJECT_KINDS = ("budget", "no_eligible_model", "context_too_small", "unknown_model")


@dataclass(slots=True)
class RouteTotals:
    requests: int = 0
    changed: int = 0
    unjudged: int = 0
    logged_usd: float = 0.0
    replayed_usd: float = 0.0
    mix_then: Counter = field(default_factory=Counter)  # model (or "rejected") -> requests
    mix_now: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)  # REJECT_KINDS -> requests
    unjudged_why: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "changed": self.changed,
            "unjudged": self.unjudged,
            "cost_usd": {"logged": round(self.logged_usd, 9), "replayed": round(self.replayed_usd, 9)},
            "models": {"logged": dict(self.mix_then.most_common()), "replayed": dict(self.mix_now.most_common())},
            "rejected": {kind: self.rejected[kind] for kind in REJECT_KINDS if self.rejected[kind]},
            "unjudged_reasons": dict(self.unjudged_why.most_common()),
        }


class Report:
    def __init__(self) -> None:
        self.routes: dict[str, RouteTotals] = {}

    def route(self, name: str) -> RouteTotals:
        totals = self.routes.get(name)
        if totals is None:
            totals = self.routes[name] = RouteTotals()
        return totals

    def as_dict(self) -> dict[str, Any]:
        routes = [self.routes[name] for name in sorted(self.routes)]
        return {
            "requests": sum(t.requests for t in routes),
            "changed": sum(t.changed for t in routes),
            "cost_usd": {"logged": round(sum(t.logged_usd for t in routes), 9),
                         "replayed": round(sum(t.replayed_usd for t in routes), 9)},
            "by_route": {name: self.routes[name].as_dict() for name in sorted(self.routes)},
            "unjudged": sum(t.unjudged for t in routes),
        }
