"""Fleet-wide budgets: reservations across two stores sharing one real Redis."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from routecar.shared.results import UNAVAILABLE, Denied, Reservation

from .conftest import RedisServer, SharedFactory

KEY = "support/day"
END = float(int(time.time()) // 86400 * 86400 + 86400)  # today's period (UTC day)


async def settle(*states: Any, within: float = 2.0) -> None:
    """Wait until every reconcile queued so far has been sent."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(s.budgets.stats()["reconcile_queue"]["queued"] == 0 for s in states):
            await asyncio.sleep(0.02)  # the last batch's round trip
            return
        await asyncio.sleep(0.005)
    raise AssertionError("reconciles still queued")


async def test_a_budget_for_n_requests_admits_n_across_pods(shared_factory: SharedFactory) -> None:
    a, b = await shared_factory(), await shared_factory()
    results = [await (a if i % 2 else b).budgets.reserve(KEY, 0.1, 1.0, END, 30) for i in range(12)]
    assert [type(r) for r in results] == [Reservation] * 10 + [Denied] * 2
    denied = results[-1]
    assert isinstance(denied, Denied)
    assert (denied.spent_usd, denied.reserved_usd, denied.limit_usd) == (0.0, 1.0, 1.0)
    assert denied.period_end == int(END)
    # Each reservation saw what the fleet held before it: the holds add up across both pods.
    assert [r.reserved_usd for r in results[:10]] == [round(0.1 * (i + 1), 10) for i in range(10)]


async def test_a_concurrent_burst_never_holds_more_than_the_limit(shared_factory: SharedFactory) -> None:
    a = await shared_factory(max_connections=8)
    b = await shared_factory(max_connections=8)
    burst = [(a if i % 2 else b).budgets.reserve(KEY, 0.01, 1.0, END, 30) for i in range(300)]
    results = await asyncio.gather(*burst)
    assert UNAVAILABLE not in results
    admitted = [r for r in results if isinstance(r, Reservation)]
    assert len(admitted) == 100 and all(isinstance(r, Denied) for r in results if r not in admitted)
    # True costs above the estimates: spend may pass the limit by the estimates' error, no more.
    for i, r in enumerate(admitted):
        (a if i % 2 else b).budgets.reconcile(r, 0.012)
    await settle(a, b)
    spend = await a.budgets.spent([(KEY, END)])
    assert isinstance(spend, dict)
    assert abs(spend[KEY].spent_usd - 1.2) < 1e-9 and spend[KEY].reserved_usd == 0.0
    assert isinstance(await b.budgets.reserve(KEY, 0.0, 1.0, END, 30), Denied), "spent >= limit: nothing more"


async def test_a_dead_requests_reservation_expires_and_frees_the_budget(shared_factory: SharedFactory) -> None:
    a, b = await shared_factory(), await shared_factory()
    held = await a.budgets.reserve(KEY, 1.0, 1.0, END, ttl_s=0.2)  # its pod dies: never reconciled
    assert isinstance(held, Reservation)
    assert isinstance(await b.budgets.reserve(KEY, 0.1, 1.0, END, 30), Denied)
    await asyncio.sleep(0.25)
    again = await b.budgets.reserve(KEY, 0.1, 1.0, END, 30)
    assert isinstance(again, Reservation) and abs(again.reserved_usd - 0.1) < 1e-12


async def test_reconcile_counts_once_however_often_it_is_sent(shared_factory: SharedFactory) -> None:
    a = await shared_factory()
    r = await a.budgets.reserve(KEY, 0.5, 1.0, END, 30)
    assert isinstance(r, Reservation)
    assert a.budgets.reconcile(r, 0.25) and a.budgets.reconcile(r, 0.25)  # one batch
    await settle(a)
    a.budgets.reconcile(r, 0.25)  # and a later one
    await settle(a)
    spend = await a.budgets.spent([(KEY, END)])
    assert isinstance(spend, dict)
    assert (spend[KEY].spent_usd, spend[KEY].reserved_usd) == (0.25, 0.0)


async def test_money_is_exact_for_the_smallest_costs(shared_factory: SharedFactory) -> None:
    a = await shared_factory()
    for _ in range(500):
        r = await a.budgets.reserve(KEY, 2e-7, 1.0, END, 30)  # 10 embedding tokens at $0.02/1M
        assert isinstance(r, Reservation)
        a.budgets.reconcile(r, 2e-7)
    await settle(a)
    spend = await a.budgets.spent([(KEY, END)])
    assert isinstance(spend, dict)
    assert spend[KEY].spent_usd == 0.0001 and spend[KEY].reserved_usd == 0.0


async def test_periods_are_separate_and_keys_expire_after_their_history(shared_factory: SharedFactory,
                                                                        redis_client: Any) -> None:
    a = await shared_factory()
    r = await a.budgets.reserve(KEY, 1.0, 1.0, END, 30)
    assert isinstance(r, Reservation)
    assert isinstance(await a.budgets.reserve(KEY, 1.0, 1.0, END + 86400, 30), Reservation), "tomorrow is new"
    keys = sorted(k.decode() for k in await redis_client.keys("routecar:v1:budget:*"))
    assert keys == [f"routecar:v1:budget:{{{KEY}@{int(END)}}}", f"routecar:v1:budget:{{{KEY}@{int(END)}}}:exp",
                    f"routecar:v1:budget:{{{KEY}@{int(END) + 86400}}}",
                    f"routecar:v1:budget:{{{KEY}@{int(END) + 86400}}}:exp"]
    ttl = await redis_client.ttl(keys[0])
    assert 35 * 86400 < ttl <= 35 * 86400 + 86400  # the period's end + 35 days of history


async def test_a_reconcile_waits_out_an_outage_and_lands_when_redis_is_back(
        redis_server: RedisServer, shared_factory: SharedFactory) -> None:
    a = await shared_factory()
    r = await a.budgets.reserve(KEY, 0.5, 1.0, END, 30)
    assert isinstance(r, Reservation)
    redis_server.kill()
    assert await a.budgets.reserve(KEY, 0.1, 1.0, END, 30) is UNAVAILABLE
    started = time.monotonic()
    assert a.budgets.reconcile(r, 0.3)  # queued: the request never waits
    assert time.monotonic() - started < 0.01
    await asyncio.sleep(0.05)
    assert a.budgets.stats()["reconcile_queue"]["queued"] == 1, "kept for a retry while its reservation lives"
    redis_server.start()  # empty: the reservation is gone, the true cost still counts
    assert await a.store.wait_available(2.0)
    await settle(a)
    spend = await a.budgets.spent([(KEY, END)])
    assert isinstance(spend, dict) and spend[KEY].spent_usd == 0.3


async def test_the_background_copy_serves_scrapes_without_waiting(shared_factory: SharedFactory) -> None:
    a = await shared_factory(refresh_interval=0.05)
    b = await shared_factory()
    assert a.budgets.cached() == {}
    r = await b.budgets.reserve(KEY, 0.2, 1.0, END, 30)
    assert isinstance(r, Reservation)
    a.budgets.watch(KEY, END)  # a pod that has not served this budget yet still shows it
    deadline = time.monotonic() + 2
    while KEY not in a.budgets.cached() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert a.budgets.cached()[KEY].reserved_usd == 0.2
    assert a.budgets.cached_at is not None

