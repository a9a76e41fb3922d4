"""Spend ledger for route budgets: per route (or per route and tag value) per calendar period.

The request path only touches memory: `check` and `record` are synchronous dict operations.
A background task (`run`) persists changed keys to SQLite every few seconds, so a restart keeps
the period's spend; at worst the last interval's spend is lost on a crash, which errs on the
side of serving. The table lives beside the route log in the same file (WAL), under its own
name: that file is already on the volume the operator keeps, and the ledger writes a handful
of rows per interval, so sharing it costs nothing.

Each flush opens a short-lived stdlib connection on a worker thread instead of holding one
open: the ledger then owns no thread that must be joined, so a process that never reaches
`close()` still exits, and the event loop never waits on SQLite.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Mapping

from ..config.model import BudgetConfig, RouteConfig
from .periods import iso_utc, period_bounds

log = logging.getLogger("routecar.budget")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS budget_ledger (
    key TEXT NOT NULL,
    period_start REAL NOT NULL,
    usd REAL NOT NULL,
    PRIMARY KEY (key, period_start)
)
"""
_UPSERT = ("INSERT INTO budget_ledger (key, period_start, usd) VALUES (?, ?, ?) "
           "ON CONFLICT (key, period_start) DO UPDATE SET usd = excluded.usd")
# Rows older than this are history nobody reads; pruned on open.
_KEEP_SECONDS = 100 * 86400
NO_TAG = "(none)"
_MEMORY = ("", ":memory:")


def _connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    db.execute("PRAGMA busy_timeout=5000")  # the route log writer shares the file
    return db


def _load(path: str, now: float) -> list[tuple[str, float, float]]:
    """Creates the table, prunes old periods, returns each key's latest (key, start, usd)."""
    db = _connect(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(_SCHEMA)
        db.execute("DELETE FROM budget_ledger WHERE period_start < ?", (now - _KEEP_SECONDS,))
        # SQLite returns the bare columns of the row holding MAX(): each key's latest period.
        return db.execute("SELECT key, MAX(period_start), usd FROM budget_ledger GROUP BY key").fetchall()
    finally:
        db.close()


def _store(path: str, rows: list[tuple[str, float, float]]) -> None:
    db = _connect(path)
    try:
        with db:  # one transaction for the batch
            db.execute("BEGIN")
            db.executemany(_UPSERT, rows)
    finally:
        db.close()


@dataclass(frozen=True, slots=True)
class BudgetDecision:
    ok: bool
    key: str | None  # "support/day" or "support/day/team=billing"; None: route has no budget
    spent: float = 0.0
    limit: float = math.inf
    resets_at: float | None = None  # unix seconds when the period ends
    period: str | None = None

    def message(self) -> str:
        """The 429 `budget_exceeded` text: which budget, how far, and when it resets."""
        when = iso_utc(self.resets_at) if self.resets_at is not None else "never"
        return (f"Budget '{self.key}' exceeded: spent ${self.spent:.4f} of ${self.limit:g} this "
                f"{self.period}; it resets at {when}.")

    def retry_after(self, now: float) -> int:
        """Seconds until the reset, for a Retry-After header."""
        return 0 if self.resets_at is None else max(1, math.ceil(self.resets_at - now))


NO_BUDGET = BudgetDecision(ok=True, key=None)


def budget_key(route: RouteConfig, tags: Mapping[str, str]) -> str | None:
    budget = route.budget
    if budget is None:
        return None
    key = f"{route.name}/{budget.period}"  # the period is in the key: changing it starts afresh
    if budget.per_tag:
        key += f"/{budget.per_tag}={tags.get(budget.per_tag) or NO_TAG}"
    return key


class BudgetLedger:
    def __init__(self, path: str) -> None:
        self.path = path
        self._spend: dict[str, list[float]] = {}  # key -> [period_start, usd]
        self._dirty: set[str] = set()
        self._persist = path not in _MEMORY
        self._stop = asyncio.Event()
        # Flushes are serialized: two in flight could land out of order and store an older sum.
        self._flush_lock = asyncio.Lock()

    async def open(self, now: float | None = None) -> None:
        """Loads the spend stored by earlier runs; a file that cannot be read or written is
        logged and the ledger carries on in memory (budgets still hold within this process)."""
        now = time.time() if now is None else now
        if not self._persist:
            return
        try:
            rows = await asyncio.to_thread(_load, self.path, now)
        except (sqlite3.Error, OSError) as exc:
            log.error("budget ledger cannot use its file; spend is kept in memory only",
                      extra={"path": self.path, "error": str(exc)})
            self._persist = False
            return
        for key, start, usd in rows:
            if key not in self._spend:  # spend recorded before open() is newer
                self._spend[key] = [start, usd]

    def _current(self, key: str, budget: BudgetConfig, now: float) -> tuple[list[float] | None, float, float]:
        start, end = period_bounds(budget.period, now)
        entry = self._spend.get(key)
        if entry is not None and entry[0] != start:
            entry = None  # a past period: this one starts from zero
        return entry, start, end

    def check(self, route: RouteConfig, tags: Mapping[str, str], est_cost: float, now: float) -> BudgetDecision:
        """Whether `route` may spend about `est_cost` more now. Memory only, no I/O."""
        key = budget_key(route, tags)
        if key is None:
            return NO_BUDGET
        budget = route.budget
        entry, _, end = self._current(key, budget, now)
        spent = entry[1] if entry is not None else 0.0
        # Over budget once spent reaches the cap, or when this request's estimate would pass it.
        ok = spent < budget.usd and spent + (est_cost or 0.0) <= budget.usd
        return BudgetDecision(ok=ok, key=key, spent=spent, limit=budget.usd, resets_at=end,
                              period=budget.period)

    def record(self, route: RouteConfig, tags: Mapping[str, str], cost: float, now: float) -> None:
        """Adds a request's true cost to its period (memory; persisted by the next flush)."""
        key = budget_key(route, tags)
        if key is None or not cost:
            return
        entry, start, _ = self._current(key, route.budget, now)
        if entry is None:
            entry = self._spend[key] = [start, 0.0]
        entry[1] += cost
        self._dirty.add(key)

    def spent(self, key: str) -> float:
        entry = self._spend.get(key)
        return entry[1] if entry else 0.0

    def spend_in_period(self, prefix: str, period_start: float) -> dict[str, float]:
        """Spend of key `prefix` and its per-tag keys (`prefix/TAG=VALUE`) in one period."""
        return {key: usd for key, (start, usd) in self._spend.items()
                if start == period_start and (key == prefix or key.startswith(prefix + "/"))}

    @property
    def pending(self) -> int:
        """Keys whose spend is not on disk yet."""
        return len(self._dirty) if self._persist else 0

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every key's latest period and spend, for GET /state."""
        return {key: {"period_start": iso_utc(start), "spent_usd": round(usd, 6)}
                for key, (start, usd) in sorted(self._spend.items())}

    async def flush(self) -> int:
        """Writes changed keys; returns how many. Failed writes stay dirty for the next try."""
        if not self._persist or not self._dirty:
            return 0
        async with self._flush_lock:
            keys, self._dirty = self._dirty, set()
            rows = [(k, self._spend[k][0], self._spend[k][1]) for k in keys]
            if not rows:
                return 0
            try:
                await asyncio.to_thread(_store, self.path, rows)
            except (sqlite3.Error, OSError):
                self._dirty |= keys
                log.exception("budget ledger flush failed; will retry")
                return 0
            return len(rows)

    async def run(self, interval: float = 2.0) -> None:
        """Flush every `interval` seconds until `close()`; a cancelled run flushes once more,
        so an event loop that shuts down without `close()` still keeps the spend."""
        try:
            while not self._stop.is_set():
                try:
                    await asyncio.wait_for(self._stop.wait(), timeout=interval)
                except asyncio.TimeoutError:
                    pass
                await self.flush()
        except asyncio.CancelledError:
            await self.flush()
            raise

    async def close(self) -> None:
        self._stop.set()
        await self.flush()
