"""Which routes a stage serves: a route, and the route its budget downgrades to, since a
downgraded request runs on that route's plan after the stages chose their work."""

from __future__ import annotations

from ..config.model import Config, RouteConfig


def related(config: Config, name: str) -> list[RouteConfig]:
    """`name`'s route and its budget's `downgrade_to` route (when it has one)."""
    route = config.routes.get(name)
    if route is None:
        return []
    out = [route]
    budget = route.budget
    if budget is not None and budget.downgrade_to in config.routes and budget.downgrade_to != name:
        out.append(config.routes[budget.downgrade_to])
    return out
