"""Fleet-wide rpm/tpm with GCRA on Redis' clock, across two stores sharing one real Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from routecar.shared.results import UNAVAILABLE, Allowed, Limited

from .conftest import RedisServer, SharedFactory


async def test_rpm_holds_across_pods_with_a_minutes_burst(shared_factory: SharedFactory) -> None:
    a, b = await shared_factory(), await shared_factory()
    results = [await (a if i % 2 else b).limits.acquire("openai", 10, None, 0) for i in range(11)]
    assert all(isinstance(r, Allowed) for r in results[:10])
    assert [r.rpm_used for r in results[:10]] == pytest.approx([(i + 1) / 10 for i in range(10)], abs=1e-3)
    limited = results[10]
    assert isinstance(limited, Limited) and limited.reason == "rpm_limit"
    # One request's worth of the minute (6 s) must pass before the next fits.
    assert 5.9 < limited.retry_after_s <= 6.0
    assert limited.retry_at_unix > 0


async def test_tpm_weights_requests_by_their_estimate(shared_factory: SharedFactory) -> None:
    a, b = await shared_factory(), await shared_factory()
    for state in (a, b, a):
        allowed = await state.limits.acquire("anthropic", None, 1000, 300)
        assert isinstance(allowed, Allowed) and allowed.rpm_used is None
    assert allowed.tpm_used == pytest.approx(0.9, abs=1e-3) and allowed.headroom == pytest.approx(0.1, abs=1e-3)
    limited = await b.limits.acquire("anthropic", None, 1000, 300)
    assert isinstance(limited, Limited) and limited.reason == "tpm_limit"
    assert 11.9 < limited.retry_after_s <= 12.0  # 200 tokens over, at 1000 per minute
    small = await b.limits.acquire("anthropic", None, 1000, 100)
    assert isinstance(small, Allowed), "a limited request counted nothing: the room is still there"


async def test_a_request_is_counted_in_both_limits_or_in_neither(shared_factory: SharedFactory) -> None:
    a = await shared_factory()
    first = await a.limits.acquire("p", 100, 1000, 900)
    assert isinstance(first, Allowed)
    assert first.rpm_used == pytest.approx(0.01, abs=1e-3) and first.tpm_used == pytest.approx(0.9, abs=1e-3)
    limited = await a.limits.acquire("p", 100, 1000, 200)
    assert isinstance(limited, Limited) and limited.reason == "tpm_limit"
    after = await a.limits.acquire("p", 100, 1000, 0)
    assert isinstance(after, Allowed)
    assert after.rpm_used == pytest.approx(0.02, abs=1e-3), "the limited request took no rpm slot"


async def test_a_request_larger_than_the_whole_tpm_goes_alone(shared_factory: SharedFactory) -> None:
    a = await shared_factory()
    huge = await a.limits.acquire("p", None, 100, 500)
    assert isinstance(huge, Allowed), "never blocked forever: let through into an idle minute"
    after = await a.limits.acquire("p", None, 100, 10)
    assert isinstance(after, Limited) and after.reason == "tpm_limit"
    assert 245 < after.retry_after_s <= 246  # 510 tokens owed at 100/min, less the minute's burst


async def test_real_usage_settles_the_estimate_off_the_request_path(shared_factory: SharedFactory) -> None:
    a = await shared_factory()
    assert isinstance(await a.limits.acquire("p", None, 1000, 500), Allowed)
    assert a.limits.add_tokens("p", 1000, 400)  # the answer used 400 more than estimated
    await asyncio.sleep(0.05)
    over = await a.limits.acquire("p", None, 1000, 200)
    assert isinstance(over, Limited)
    assert a.limits.add_tokens("p", 1000, -600)  # refunds count too, down to idle at most
    await asyncio.sleep(0.05)
    fits = await a.limits.acquire("p", None, 1000, 200)
    assert isinstance(fits, Allowed) and fits.tpm_used == pytest.approx(0.5, abs=0.01)  # less what drained meanwhile


async def test_the_rate_refills_with_time(shared_factory: SharedFactory) -> None:
    a = await shared_factory()
    # 60,000 tpm: one token per millisecond; the minute's burst is spent at once.
    assert isinstance(await a.limits.acquire("p", None, 60_000, 60_000), Allowed)
    assert isinstance(await a.limits.acquire("p", None, 60_000, 150), Limited)
    await asyncio.sleep(0.2)  # ~200 tokens back
    assert isinstance(await a.limits.acquire("p", None, 60_000, 150), Allowed)
    assert isinstance(await a.limits.acquire("p", None, 60_000, 150), Limited)


async def test_providers_are_independent_and_no_limit_needs_no_redis(
        redis_server: RedisServer, shared_factory: SharedFactory, redis_client: Any) -> None:
    a = await shared_factory()
    assert isinstance(await a.limits.acquire("x", 1, None, 0), Allowed)
    assert isinstance(await a.limits.acquire("x", 1, None, 0), Limited)
    assert isinstance(await a.limits.acquire("y", 1, None, 0), Allowed)
    keys = sorted(k.decode() for k in await redis_client.keys("routecar:v1:limit:*"))
    assert keys == ["routecar:v1:limit:{x}:rpm", "routecar:v1:limit:{y}:rpm"]
    assert 0 < await redis_client.pttl(keys[0]) <= 61_000  # gone once the provider is idle again
    redis_server.kill()
    assert await a.limits.acquire("z", None, None, 100) == Allowed()
    assert await a.limits.acquire("z", 5, None, 0) is UNAVAILABLE
