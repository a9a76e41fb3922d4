"""The budget reservation and the first attempt's rpm/tpm slot, in one round trip, against a
real redis-server."""

from __future__ import annotations

import time

from routecar.shared.results import UNAVAILABLE, Allowed, Denied, Limited, Reservation

from .conftest import RedisServer, SharedFactory

KEY = "support/day"
END = int(time.time()) + 3600


async def test_one_round_trip_reserves_and_takes_the_slot(shared_factory: SharedFactory) -> None:
    state = await shared_factory()
    before = state.store.calls["ok"]
    ask = state.budgets.reservation(KEY, 0.1, 1.0, END, 30)
    held, slot = await state.admission.reserve_with_slot(ask, "openai", 60, None, 100)
    assert state.store.calls["ok"] == before + 1
    assert isinstance(held, Reservation) and held.reserved_usd == 0.1
    assert slot is not None and slot.take("anthropic") is None  # another provider asks Redis itself
    got = slot.take("openai")
    assert isinstance(got, Allowed) and got.rpm_used is not None and got.tpm_used is None
    assert slot.take("openai") is None  # the first attempt only: a second one asks again


async def test_a_request_refused_for_budget_takes_no_rate_slot(shared_factory: SharedFactory) -> None:
    state = await shared_factory()
    ask = state.budgets.reservation(KEY, 2.0, 1.0, END, 30)  # more than the whole budget
    held, slot = await state.admission.reserve_with_slot(ask, "openai", 1, None, 0)
    assert isinstance(held, Denied) and slot is None
    # rpm 1: had the refused request been counted, this would be Limited.
    assert isinstance(await state.limits.acquire("openai", 1, None, 0), Allowed)


async def test_a_full_rate_still_reserves_and_says_when_the_slot_frees(shared_factory: SharedFactory) -> None:
    state = await shared_factory()
    assert isinstance(await state.limits.acquire("openai", 1, None, 0), Allowed)  # the minute's one request
    held, slot = await state.admission.reserve_with_slot(state.budgets.reservation(KEY, 0.1, 1.0, END, 30),
                                                         "openai", 1, None, 0)
    assert isinstance(held, Reservation) and slot is not None
    got = slot.take("openai")
    assert isinstance(got, Limited) and got.reason == "rpm_limit" and got.retry_after_s > 0


async def test_redis_down_answers_unavailable_for_both_without_a_second_wait(
        redis_server: RedisServer, shared_factory: SharedFactory) -> None:
    state = await shared_factory(timeout=0.05)
    redis_server.kill()
    held, slot = await state.admission.reserve_with_slot(state.budgets.reservation(KEY, 0.1, 1.0, END, 30),
                                                         "openai", 60, None, 0)
    assert held is UNAVAILABLE and slot is not None and slot.take("openai") is UNAVAILABLE
