"""Route budgets (`routes.NAME.budget`): spend caps per period, checked before dispatch.

After planning, the plan's estimated cost is checked against the route's budget for this
period; over it, the request is refused (429 `budget_exceeded`) or replanned on the budget's
`downgrade_to` route, whose own budget is then checked the same way (the config refuses
cycles; the loop is bounded by the number of routes anyway). Once the request is over, its
true cost is recorded against the route it ran on.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

from ..budget import BudgetLedger
from ..config.model import Config
from ..errors import ApiError
from ..router.router import Router
from .base import Stage
from .exchange import Exchange


class BudgetStage(Stage):
    name = "budget"

    def __init__(self, config: Config, router: Router, ledger: BudgetLedger,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.router = router
        self.ledger = ledger
        self._now = wall_clock
        self._routes = frozenset(name for name, route in config.routes.items() if route.budget is not None)

    def applies_to(self, route: str | None) -> bool:
        return route in self._routes

    async def after_plan(self, ex: Exchange) -> None:
        plan, routing = ex.plan, ex.routing
        assert plan is not None and routing is not None
        now = self._now()
        tags = ex.record.tags
        downgraded: list[str] = []
        for _ in range(len(self.config.routes) + 1):
            route = self.config.routes.get(plan.route) if plan.route else None
            if route is None or route.budget is None:
                break
            decision = self.ledger.check(route, tags, plan.est_cost_usd or 0.0, now)
            if decision.ok:
                break
            over = f"over budget ({decision.key}: ${decision.spent:.4f} of ${decision.limit:g})"
            if route.budget.when_exceeded != "downgrade" or route.name in downgraded:
                ex.plan = dataclasses.replace(plan, reason=f"route '{route.name}' {over}; rejected")
                raise ApiError(429, decision.message(), "budget_exceeded", "budget_exceeded",
                               outcome="budget_rejected", retry_after=decision.retry_after(now))
            passed_over = list(dict.fromkeys(c.slug for c in plan.candidates))
            downgraded.append(route.name)
            replanned = self.router.plan(routing, downgraded_from=route.name)
            skipped = [{"slug": slug, "deployment": None, "why": f"route '{route.name}' {over}"}
                       for slug in passed_over] + [*plan.skipped, *replanned.skipped]
            reason = replanned.reason
            if len(downgraded) > 1:
                reason = f"route '{downgraded[0]}' over budget -> '{route.name}'; {reason}"
            plan = dataclasses.replace(replanned, skipped=tuple(skipped), reason=reason)
        ex.plan = plan

    def after_outcome(self, ex: Exchange) -> None:
        plan, record = ex.plan, ex.record
        route = self.config.routes.get(plan.route) if plan is not None and plan.route else None
        if route is not None and route.budget is not None and record.cost_usd:
            self.ledger.record(route, record.tags, record.cost_usd, self._now())
