"""The replay loop: each logged row, oldest first, re-decided by the real Router of the NEW config.

Per row: the health clock moves to the row's time; the row becomes a RoutingRequest (or is
counted unjudged); the Router plans it and the replayed budget gate passes, downgrades or
rejects it; the decision is compared with the logged one; then the row's logged attempts are
fed to the rebuilt health, so the next rows see what the log saw (the past is as it happened:
replay cannot know how another model would have fared).

"Changed" compares models (the plan's first candidate), not deployments. Random decisions
(a `weighted` or `fastest` route, whose exploration draws, and canary draws) use a seeded
generator, so a replay is repeatable; and when such a decision, under the same strategy, could
have drawn the logged model first, the logged choice is kept: replay reports a change only when
the logged model is no longer among those the decision draws from. So a config replayed
unchanged reports no changes.
"""

from __future__ import annotations

import random
import sqlite3
from typing import Any

from ..config.model import Config
from ..router.cost import actual_cost
from ..router.plan import Plan, RoutingError
from ..router.router import Router
from .budgets import BudgetReplay
from .health import HealthReplay
from .inputs import Needs, routing_request
from .report import Report
from .rows import INDEX, json_cell, stream_rows

RANDOM_STRATEGIES = frozenset({"weighted", "fastest"})
_ERROR_KINDS = {"model_not_found": "unknown_model", "context_length_exceeded": "context_too_small"}
_BUDGET = "rejected:budget"
_REJECTED = "rejected"

_TS, _MODEL, _STRATEGY, _CHOSEN, _OUTCOME, _ATTEMPTS, _PT, _CT, _COST, _CANDS, _STATUS = (
    INDEX["ts"], INDEX["requested_model"], INDEX["strategy"], INDEX["chosen_model"], INDEX["outcome"],
    INDEX["attempt_log"], INDEX["prompt_tokens"], INDEX["completion_tokens"], INDEX["cost_usd"],
    INDEX["candidates"], INDEX["status"])



def logged_decision(row: tuple[Any, ...]) -> str:
    """What the logged request was planned to: its first candidate's model, else the model that
    answered, else a rejection."""
    if row[_OUTCOME] == "budget_rejected":
        return _BUDGET
    cands = json_cell(row[_CANDS])
    if cands and isinstance(cands[0], dict) and cands[0].get("slug"):
        return cands[0]["slug"]
    return row[_CHOSEN] or _REJECTED


class Replayer:
    def __init__(self, config: Config, seed: int = 0) -> None:
        self.config = config
        self.health = HealthReplay(config)
        self.router = Router(config, self.health.registry, rng=random.Random(seed).random)
        self.budgets = BudgetReplay(config)
        self.needs = Needs(config)
        self.report = Report()

    def run(self, conn: sqlite3.Connection, since: float | None = None, route: str | None = None) -> Report:
        for row in stream_rows(conn, since, route):
            self.replay_row(row)
        return self.report

    def _drawable(self, plan: Plan) -> set[str]:
        """The models a random decision could have put first."""
        out = {row[0].slug for row in plan.ranking}
        route = self.config.routes.get(plan.route) if plan.route else None
        if route is not None and route.canary is not None:
            out.add(route.canary.model)
        return out

    def _random(self, plan: Plan) -> bool:
        route = self.config.routes.get(plan.route) if plan.route else None
        return plan.strategy in RANDOM_STRATEGIES or (route is not None and route.canary is not None)

    def replay_row(self, row: tuple[Any, ...]) -> None:
        ts = row[_TS]
        self.health.at(ts)
        totals = self.report.route(row[_MODEL] or "(unparsed)")
        totals.requests += 1
        req = routing_request(row, self.needs)
        if isinstance(req, str):
            totals.unjudged += 1
            totals.unjudged_why[req] += 1
            self.health.feed(ts, json_cell(row[_ATTEMPTS]))
            return
        then = logged_decision(row)
        plan: Plan | None = None
        try:
            plan = self.budgets.gate(self.router, self.router.plan(req), req, ts)
            now = plan.candidates[0].slug if plan is not None else _BUDGET
            if plan is None:
                totals.rejected["budget"] += 1
        except RoutingError as err:
            kind = _ERROR_KINDS.get(err.code, "no_eligible_model")
            totals.rejected[kind] += 1
            now = _REJECTED
        if (plan is not None and now != then and then not in (_BUDGET, _REJECTED) and self._random(plan)
                and plan.strategy == row[_STRATEGY] and then in self._drawable(plan)):
            now = then  # the same draw could have picked it: keep the logged choice
        totals.mix_then[then] += 1
        totals.mix_now[now] += 1
        totals.changed += now != then
        totals.logged_usd += row[_COST] or 0.0
        cost = self._cost(row, now, then)
        totals.replayed_usd += cost
        if plan is not None:
            self.budgets.spend(plan.route, req.tags, cost, ts)
        self.health.feed(ts, json_cell(row[_ATTEMPTS]))

    def _cost(self, row: tuple[Any, ...], now: str, then: str) -> float:
        """NEW's price of the replayed model for the logged token counts. An unchanged decision
        is priced on the model that really answered (a failover's fallback included)."""
        models = self.config.models
        served = row[_CHOSEN] if now == then and row[_CHOSEN] in models else now
        model = models.get(served)
        prompt, completion = row[_PT], row[_CT]
        if model is None or (prompt is None and completion is None):
            return 0.0
        return actual_cost(model, {"prompt_tokens": prompt or 0, "completion_tokens": completion or 0})


def replay(config: Config, conn: sqlite3.Connection, since: float | None = None, route: str | None = None,
           seed: int = 0) -> dict[str, Any]:
    """The report of replaying the route log behind `conn` under `config`, as a JSON-ready dict."""
    return Replayer(config, seed).run(conn, since, route).as_dict()
