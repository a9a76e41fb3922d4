"""Route budgets (`routes.NAME.budget`): spend caps per period, checked before dispatch.

After planning, the plan's estimated cost is checked against the route's budget for this
period; over it, the request is refused (429 `budget_exceeded`) or replanned on the budget's
`downgrade_to` route, whose own budget is then checked the same way (the config refuses
cycles; the loop is bounded by the number of routes anyway). Once the request is over, its
true cost is recorded against the route it ran on.

Per pod (no `shared_state`), the check and the record are the local ledger's, in memory. With
`shared_state`, the check reserves the estimate against the fleet-wide period counter in Redis
(one round trip; a burst of concurrent requests cannot all pass on the same remaining
budget) and the record turns the reservation into the true cost, queued off the request path;
a reservation whose request dies expires on its own. The local ledger keeps recording too, so
that when Redis is unavailable (`on_unavailable: local`) the pod falls back to current numbers
of its own; with `on_unavailable: reject` it answers 503 instead.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Mapping

from ..budget import BudgetDecision, BudgetLedger, budget_key, period_bounds
from ..config.model import Config, RouteConfig
from ..errors import ApiError
from ..router.plan import Plan
from ..router.router import Router
from ..shared.admission import SharedAdmission  # no redis import: see shared/
from ..shared.budgets import RESERVATION_MARGIN_S, ReservationAsk, SharedBudgets
from ..shared.results import Denied, Reservation, Unavailable
from .base import Stage
from .exchange import Exchange


class BudgetStage(Stage):
    name = "budget"

    def __init__(self, config: Config, router: Router, ledger: BudgetLedger, shared: SharedBudgets | None = None,
                 wall_clock: Callable[[], float] = time.time, clock: Callable[[], float] = time.monotonic,
                 admission: SharedAdmission | None = None) -> None:
        self.config = config
        self.router = router
        self.ledger = ledger
        self.shared = shared
        self.admission = admission  # the reservation and the first slot in one round trip
        self._now = wall_clock
        self._clock = clock  # the deadline's clock: how long a reservation may live
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
            decision = await self._check(route, tags, plan, now, ex)
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

    async def _check(self, route: RouteConfig, tags: Mapping[str, str], plan: Plan, now: float,
                     ex: Exchange) -> BudgetDecision:
        est = plan.est_cost_usd or 0.0
        if self.shared is None:
            return self.ledger.check(route, tags, est, now)
        key, budget = budget_key(route, tags), route.budget
        assert key is not None and budget is not None
        end = period_bounds(budget.period, now)[1]
        ttl = max(0.0, ex.deadline - self._clock()) + RESERVATION_MARGIN_S
        held = await self._reserve(self.shared.reservation(key, est, budget.usd, end, ttl), plan, ex)
        if isinstance(held, Reservation):
            ex.notes[self.name] = held
            return BudgetDecision(ok=True, key=key, spent=held.spent_usd, limit=budget.usd, resets_at=end,
                                  period=budget.period)
        if isinstance(held, Denied):
            # In flight counts as spent here: it is what stops the next request.
            return BudgetDecision(ok=False, key=key, spent=held.spent_usd + held.reserved_usd, limit=budget.usd,
                                  resets_at=end, period=budget.period)
        if self.config.shared_state is not None and self.config.shared_state.on_unavailable == "reject":
            raise ApiError(503, "The fleet-wide budget store is unavailable (shared_state.on_unavailable: "
                           "reject); retry shortly.", "shared_state_unavailable", "service_unavailable",
                           outcome="upstream_error", retry_after=1)
        return self.ledger.check(route, tags, est, now)  # this pod's own numbers meanwhile

    async def _reserve(self, ask: ReservationAsk, plan: Plan, ex: Exchange) -> Reservation | Denied | Unavailable:
        """The reservation; with it, in the same round trip, the rpm/tpm slot of the provider
        the first attempt will go to, when that provider has fleet-wide limits."""
        assert self.shared is not None
        provider = self.config.providers[plan.candidates[0].deployment.provider] if plan.candidates else None
        if self.admission is None or provider is None or not (provider.limits.rpm or provider.limits.tpm):
            return await self.shared.send(ask)
        assert ex.routing is not None
        held, ex.fleet_slot = await self.admission.reserve_with_slot(
            ask, provider.name, provider.limits.rpm, provider.limits.tpm, ex.routing.est_prompt_tokens)
        return held

    def after_outcome(self, ex: Exchange) -> None:
        plan, record = ex.plan, ex.record
        held = ex.notes.get(self.name)
        if held is not None and self.shared is not None:
            self.shared.reconcile(held, record.cost_usd or 0.0)  # queued; a dead request's hold expires
        route = self.config.routes.get(plan.route) if plan is not None and plan.route else None
        if route is not None and route.budget is not None and record.cost_usd:
            self.ledger.record(route, record.tags, record.cost_usd, self._now())
