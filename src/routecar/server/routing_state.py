"""Routing state that outlives config generations: the budget ledger and the canary monitor.

One `RoutingState` per process, created by the runtime, kept across reloads (a reload only
re-syncs the canary monitor through the new generation's Router); its ledger is flushed to
SQLite in the background and closed on shutdown, so the last spend is written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ..budget import BudgetLedger, iso_utc, period_bounds
from ..config.model import Config
from ..router.canary import CanaryMonitor

log = logging.getLogger("routecar.routing_state")

FLUSH_INTERVAL = 2.0  # seconds of spend a crash may lose; see budget/ledger.py
_CLOSE_WAIT = 5.0


class RoutingState:
    def __init__(self, config: Config, flush_interval: float = FLUSH_INTERVAL) -> None:
        self.canary = CanaryMonitor()
        # The ledger's table lives in the route log's file (see budget/ledger.py for why).
        self.ledger = BudgetLedger(config.route_log.path)
        self.started = False
        self._interval = flush_interval
        self._opening: asyncio.Future[None] | None = None
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Load stored spend and start the background flush; idempotent and safe to race."""
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())
        await asyncio.shield(self._opening)

    async def _open(self) -> None:
        await self.ledger.open()
        self._flusher = asyncio.get_running_loop().create_task(self.ledger.run(self._interval))
        self.started = True

    async def close(self) -> None:
        if self._opening is not None and not self._opening.done():
            await self._opening
        await self.ledger.close()  # stops the flusher and writes what is left
        if self._flusher is not None:
            try:
                await asyncio.wait_for(self._flusher, _CLOSE_WAIT)
            except asyncio.TimeoutError:
                log.warning("budget ledger flusher did not stop in time")

    def state(self, config: Config, now: float | None = None) -> dict[str, Any]:
        """For GET /state: canary verdicts and this period's spend against each budget."""
        now = time.time() if now is None else now
        budgets: dict[str, Any] = {}
        for name, route in config.routes.items():
            budget = route.budget
            if budget is None:
                continue
            start, end = period_bounds(budget.period, now)
            budgets[name] = {
                "period": budget.period,
                "limit_usd": budget.usd,
                "when_exceeded": budget.when_exceeded,
                "downgrade_to": budget.downgrade_to,
                "resets_at": iso_utc(end),
                "spent_usd": {k: round(v, 6) for k, v in
                              self.ledger.spend_in_period(f"{name}/{budget.period}", start).items()},
            }
        return {"canary": self.canary.snapshot(), "budgets": budgets,
                "budget_ledger": {"path": self.ledger.path, "unflushed_keys": self.ledger.pending}}
