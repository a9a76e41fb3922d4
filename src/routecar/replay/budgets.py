"""Route budgets replayed in time order: NEW's budgets over a ledger filled with the replayed
costs, checked as the budget gate does (stages/budget.py) at each row's time.

The gate itself is async and works on a live Exchange; its decision loop is small and is
mirrored here over the same pieces (BudgetLedger.check / record, Router.plan with
`downgraded_from`), per pod (a `shared_state` fleet budget cannot be rebuilt from one pod's log).
"""

from __future__ import annotations

from typing import Mapping

from ..budget.ledger import BudgetLedger
from ..config.model import Config
from ..router.plan import Plan, RoutingRequest
from ..router.router import Router


class BudgetReplay:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.ledger = BudgetLedger(":memory:")  # never persisted: the live ledger is not touched

    def gate(self, router: Router, plan: Plan, req: RoutingRequest, now: float) -> Plan | None:
        """The plan the request would run on after the budget gate, or None: rejected."""
        downgraded: list[str] = []
        for _ in range(len(self.config.routes) + 1):
            route = self.config.routes.get(plan.route) if plan.route else None
            if route is None or route.budget is None:
                return plan
            if self.ledger.check(route, req.tags, plan.est_cost_usd or 0.0, now).ok:
                return plan
            if route.budget.when_exceeded != "downgrade" or route.name in downgraded:
                return None
            downgraded.append(route.name)
            plan = router.plan(req, downgraded_from=route.name)
        return plan

    def spend(self, route_name: str | None, tags: Mapping[str, str], cost: float, now: float) -> None:
        route = self.config.routes.get(route_name) if route_name else None
        if route is not None and cost:
            self.ledger.record(route, tags, cost, now)
