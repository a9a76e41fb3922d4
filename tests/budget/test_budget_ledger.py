"""Budget ledger: check/record in memory, periods in UTC, per-tag keys, SQLite persistence."""

from __future__ import annotations

import asyncio
import calendar
import sqlite3

import pytest

from routecar.budget import BudgetLedger, budget_key, iso_utc, period_bounds
from routecar.config.model import BudgetConfig, RouteConfig

T0 = calendar.timegm((2026, 11, 25, 10, 30, 0))  # Wed 25 Nov 2026 10:30 UTC


def route(name="support", period="day", usd=1.0, per_tag=None) -> RouteConfig:
    return RouteConfig(name=name, strategy="ordered", candidates=("m",),
                       budget=BudgetConfig(period=period, usd=usd, per_tag=per_tag))


def test_period_bounds_are_calendar_utc():
    assert period_bounds("hour", T0) == (calendar.timegm((2026, 11, 25, 10, 0, 0)),
                                         calendar.timegm((2026, 11, 25, 11, 0, 0)))
    assert period_bounds("day", T0)[1] == calendar.timegm((2026, 11, 26, 0, 0, 0))
    assert period_bounds("month", T0) == (calendar.timegm((2026, 11, 1, 0, 0, 0)),
                                          calendar.timegm((2026, 12, 1, 0, 0, 0)))
    december = calendar.timegm((2026, 12, 31, 23, 59, 59))
    assert period_bounds("month", december)[1] == calendar.timegm((2027, 1, 1, 0, 0, 0))
    with pytest.raises(ValueError):
        period_bounds("week", T0)


async def test_check_and_record(tmp_path):
    ledger = BudgetLedger(str(tmp_path / "routes.db"))
    await ledger.open(now=T0)
    r = route(usd=1.0)
    assert ledger.check(r, {}, 0.5, T0).ok
    ledger.record(r, {}, 0.7, T0)
    decision = ledger.check(r, {}, 0.2, T0)
    assert decision.ok and decision.spent == pytest.approx(0.7) and decision.limit == 1.0
    over = ledger.check(r, {}, 0.4, T0)  # this request's estimate would pass the cap
    assert not over.ok
    ledger.record(r, {}, 0.35, T0)
    spent = ledger.check(r, {}, 0.0, T0)
    assert not spent.ok and spent.key == "support/day"
    assert spent.resets_at == calendar.timegm((2026, 11, 26, 0, 0, 0))
    assert "support/day" in spent.message() and "2026-11-26T00:00:00Z" in spent.message()
    assert spent.retry_after(T0) == 13 * 3600 + 30 * 60
    await ledger.close()


async def test_route_without_budget_is_always_ok(tmp_path):
    ledger = BudgetLedger(str(tmp_path / "b.db"))
    free = RouteConfig(name="free", strategy="ordered", candidates=("m",))
    ledger.record(free, {}, 100.0, T0)
    decision = ledger.check(free, {}, 100.0, T0)
    assert decision.ok and decision.key is None


async def test_new_period_starts_from_zero(tmp_path):
    ledger = BudgetLedger(str(tmp_path / "b.db"))
    r = route(period="hour", usd=1.0)
    ledger.record(r, {}, 1.5, T0)
    assert not ledger.check(r, {}, 0.0, T0 + 1799).ok  # same hour (10:00-11:00)
    next_hour = ledger.check(r, {}, 0.0, T0 + 1800)
    assert next_hour.ok and next_hour.spent == 0.0
    ledger.record(r, {}, 0.25, T0 + 1800)
    assert ledger.check(r, {}, 0.0, T0 + 1801).spent == pytest.approx(0.25)


async def test_per_tag_budgets_are_separate(tmp_path):
    ledger = BudgetLedger(str(tmp_path / "b.db"))
    r = route(usd=1.0, per_tag="team")
    ledger.record(r, {"team": "billing"}, 1.0, T0)
    assert not ledger.check(r, {"team": "billing"}, 0.01, T0).ok
    search = ledger.check(r, {"team": "search"}, 0.01, T0)
    assert search.ok and search.key == "support/day/team=search"
    assert budget_key(r, {}) == "support/day/team=(none)"


async def test_spend_survives_a_restart(tmp_path):
    path = str(tmp_path / "routes.db")
    r, tagged = route(usd=10.0), route(name="ext", period="month", usd=5.0, per_tag="team")
    ledger = BudgetLedger(path)
    await ledger.open(now=T0)
    ledger.record(r, {}, 2.5, T0)
    ledger.record(tagged, {"team": "a"}, 1.25, T0)
    assert await ledger.flush() == 2
    ledger.record(r, {}, 0.5, T0)  # flushed by close()
    await ledger.close()

    reopened = BudgetLedger(path)
    await reopened.open(now=T0 + 60)
    assert reopened.check(r, {}, 0.0, T0 + 60).spent == pytest.approx(3.0)
    assert reopened.check(tagged, {"team": "a"}, 0.0, T0 + 60).spent == pytest.approx(1.25)
    # A reopen on a later day sees the stored row as a past period.
    assert reopened.check(r, {}, 0.0, T0 + 86400).spent == 0.0
    reopened.record(r, {}, 1.0, T0 + 86400)
    await reopened.close()
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT key, period_start, usd FROM budget_ledger ORDER BY period_start, key").fetchall()
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ("support/day", period_bounds("day", T0)[0], 3.0) in rows
    assert ("support/day", period_bounds("day", T0 + 86400)[0], 1.0) in rows


async def test_background_run_flushes_until_closed(tmp_path):
    path = str(tmp_path / "b.db")
    ledger = BudgetLedger(path)
    await ledger.open(now=T0)
    task = asyncio.create_task(ledger.run(interval=0.01))
    ledger.record(route(), {}, 0.3, T0)
    for _ in range(200):  # bounded wait for the background flush
        await asyncio.sleep(0.01)
        with sqlite3.connect(path) as db:
            if db.execute("SELECT COUNT(*) FROM budget_ledger").fetchone()[0]:
                break
    else:
        pytest.fail("run() never flushed")
    await ledger.close()
    await asyncio.wait_for(task, timeout=5)


def test_iso_utc():
    assert iso_utc(T0) == "2026-11-25T10:30:00Z"
