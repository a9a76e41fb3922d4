"""Two real `routecar serve` processes sharing one real redis-server: fleet-wide budgets,
rpm limits and the exact cache hold across both, and Redis going away never fails a request.

Money is made exact: output costs $1 per token and every request asks for one token, so a
$10 daily budget is ten requests, estimated and billed alike.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest

from tests.lifecycle.conftest import SidecarProcess
from tests.shared.conftest import RedisServer

ONE_TOKEN = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1, "temperature": 0}


def fleet_yaml(db: Path, fake: str, redis_url: str | None, extra: str = "") -> str:
    shared = (f"shared_state:\n  redis: {{url: '{redis_url}', key_prefix: 'rc-test:', timeout: 200ms}}\n"
              if redis_url else "")
    return f"""
server: {{listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0, max_queue_wait: 0s}}
providers:
  fake: {{type: openai, base_url: '{fake}', api_key: 'sk-test-fleet',
          timeouts: {{connect: 1s, first_token: 5s, idle: 5s, total: 10s}}}}
  limited: {{type: openai, base_url: '{fake}', api_key: 'sk-test-fleet', limits: {{rpm: 6}}}}
models:
  m:
    price: {{input: 0, output: 1000000}}
    deployments: [{{provider: fake, model: up}}]
  slow-m:
    price: {{input: 0, output: 1000000}}
    deployments: [{{provider: limited, model: up}}]
routes:
  capped: {{strategy: ordered, candidates: [m], budget: {{period: day, usd: 10, when_exceeded: reject}}}}
  cached:
    strategy: ordered
    candidates: [m]
    cache: {{exact: {{ttl: 10m, max_entries: 100, shared: {'true' if redis_url else 'false'}}}}}
resilience:
  health_check: {{enabled: false}}
{shared}
route_log: {{path: '{db}', flush_interval: 50ms}}
{extra}
"""


class Fleet:
    def __init__(self, tmp: Path, fake: str, redis: RedisServer | None) -> None:
        self.tmp, self.fake, self.redis = tmp, fake, redis
        self.pods: list[SidecarProcess] = []

    async def start(self, n: int = 2) -> list[SidecarProcess]:
        for i in range(n):
            cfg = self.tmp / f"pod{i}.yaml"
            cfg.write_text(fleet_yaml(self.tmp / f"pod{i}.db", self.fake, self.redis.url if self.redis else None))
            pod = SidecarProcess(cfg)
            self.pods.append(pod)
            await pod.start()
        return self.pods[-n:]

    async def stop_all(self) -> None:
        for pod in self.pods:
            await pod.kill()
        self.pods.clear()

    async def roll(self) -> None:
        """Stops every pod as Kubernetes does in a rollout (SIGTERM, then the drain), each exiting 0."""
        pods, self.pods = self.pods, []
        try:
            for pod in pods:
                pod.send(signal.SIGTERM)
            for pod in pods:
                assert await pod.wait() == 0, pod.output()
        finally:
            for pod in pods:
                await pod.kill()


@pytest.fixture
async def fleet(tmp_path: Path, fake_factory: Any) -> AsyncIterator[Fleet]:
    fp = await fake_factory("fleet-upstream")
    redis = RedisServer(tmp_path).start()
    f = Fleet(tmp_path, fp.openai_base, redis)
    try:
        yield f
    finally:
        try:
            await f.stop_all()
        finally:
            redis.resume()
            redis.kill()


async def ask(http: aiohttp.ClientSession, pod: SidecarProcess, model: str, **extra: Any) -> tuple[int, dict[str, str]]:
    body = {"model": model, **ONE_TOKEN, **extra}
    async with http.post(pod.data_url + "/v1/chat/completions", json=body,
                         timeout=aiohttp.ClientTimeout(total=15)) as resp:
        await resp.read()
        return resp.status, dict(resp.headers)


async def state(http: aiohttp.ClientSession, pod: SidecarProcess) -> dict[str, Any]:
    async with http.get(pod.admin_url + "/state") as resp:
        return await resp.json()


async def test_a_daily_budget_holds_for_the_fleet_not_per_pod(fleet: Fleet) -> None:
    a, b = await fleet.start()
    async with aiohttp.ClientSession() as http:
        statuses = [(await ask(http, pod, "capped"))[0] for pod in (a, b) * 10]
        assert statuses.count(200) == 10 and statuses.count(429) == 10, statuses  # not 20 admitted
        # Spend lives in Redis: both sidecars rolled (their queued reconciles sent on the way
        # out) still see the day's budget spent.
        await fleet.roll()
        a, b = await fleet.start()
        assert [(await ask(http, pod, "capped"))[0] for pod in (a, b)] == [429, 429]
        for _ in range(100):  # the fleet-wide figures /state shows are refreshed every 2 s
            view = (await state(http, a))["shared_state"]
            if view["budgets"].get("capped/day", {}).get("spent_usd") == 10.0:
                break
            await asyncio.sleep(0.05)
        assert view["available"] is True and view["budgets"]["capped/day"]["spent_usd"] == 10.0
        async with http.get(a.admin_url + "/metrics") as resp:
            assert 'routecar_budget_spent_usd{budget="capped/day",scope="fleet"} 10.0' in await resp.text()


async def test_a_concurrent_burst_never_overshoots_the_reserved_budget(fleet: Fleet) -> None:
    a, b = await fleet.start()
    async with aiohttp.ClientSession() as http:
        results = await asyncio.gather(*(ask(http, pod, "capped") for pod in (a, b) * 15))
    admitted = sum(1 for status, _ in results if status == 200)
    assert admitted == 10, [s for s, _ in results]  # estimates equal true costs: no overshoot at all


async def test_an_rpm_limit_holds_across_both_sidecars(fleet: Fleet) -> None:
    a, b = await fleet.start()
    async with aiohttp.ClientSession() as http:
        statuses = [(await ask(http, pod, "slow-m"))[0] for pod in (a, b) * 6]
    # rpm 6 allows a minute's burst of 6 (a 7th when the burst spans a new emission interval).
    assert 6 <= statuses.count(200) <= 7 and statuses.count(429) >= 5, statuses


async def test_the_exact_cache_is_shared_by_the_fleet(fleet: Fleet) -> None:
    a, b = await fleet.start()
    async with aiohttp.ClientSession() as http:
        _, first = await ask(http, a, "cached", messages=[{"role": "user", "content": "shared please"}])
        assert first["x-routecar-cache"] == "miss"
        for _ in range(100):  # the store is queued off the request path: bounded wait for it
            _, other = await ask(http, b, "cached", messages=[{"role": "user", "content": "shared please"}])
            if other["x-routecar-cache"] == "hit":
                break
            await asyncio.sleep(0.02)
        assert other["x-routecar-cache"] == "hit" and other["x-routecar-attempts"] == "0"


async def test_redis_dying_mid_traffic_fails_no_request_and_sharing_resumes(fleet: Fleet) -> None:
    a, b = await fleet.start()
    assert fleet.redis is not None
    async with aiohttp.ClientSession() as http:
        statuses = []
        for i in range(40):
            if i == 10:
                fleet.redis.kill()
            # Each one looks the shared cache up in Redis: the outage is met on the request path.
            statuses.append((await ask(http, (a, b)[i % 2], "cached",
                                       messages=[{"role": "user", "content": f"question {i}"}]))[0])
        assert statuses == [200] * 40
        assert (await state(http, a))["shared_state"]["available"] is False
        fleet.redis.start()
        for _ in range(300):  # reconnects with backoff (at most 10 s between tries)
            views = [(await state(http, pod))["shared_state"] for pod in (a, b)]
            if all(view["available"] for view in views):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"sharing did not resume after Redis came back: {views}")
        budget = [(await ask(http, pod, "capped"))[0] for pod in (a, b) * 6]
        assert budget.count(200) == 10 and budget.count(429) == 2  # shared again (Redis restarted empty)
        async with http.get(a.admin_url + "/metrics") as resp:
            text = await resp.text()
        assert "routecar_shared_state_unavailable_seconds_total" in text and "routecar_shared_state_up 1.0" in text


async def test_without_shared_state_each_pod_keeps_its_own_budget(tmp_path: Path, fake_factory: Any) -> None:
    fp = await fake_factory("alone")
    f = Fleet(tmp_path, fp.openai_base, None)
    try:
        a, b = await f.start()
        async with aiohttp.ClientSession() as http:
            statuses = [(await ask(http, pod, "capped"))[0] for pod in (a, b) * 10]
        assert statuses.count(200) == 20  # the default: per pod, as documented
    finally:
        await f.stop_all()
