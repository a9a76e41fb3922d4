"""A full outage, then recovery: the recovered primary gets its share back within seconds.

Model `m` on two deployments, primary weight 3 and secondary weight 1, DEFAULT resilience
config. Both fail for 25 s; the secondary heals first, the primary 3 s later. During the
outage every request sends a panic probe; before the fix each failed one doubled the open
time, so ten seconds after its recovery the primary still had ~290 s of open circuit left.

Driven deterministically: real HTTP through the sidecar's data server to real fake providers
whose faults are flipped, with a manual clock for health (advanced 0.1 s per request, so the
app sends 10 requests per simulated second), a seeded random source for routing, and health
check rounds run by hand before each request (what the background task does on its own).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import aiohttp
import pytest

from routecar.config.loader import parse_config
from routecar.health import ManualClock
from routecar.server.app import build_admin_server, build_data_server
from routecar.server.runtime import Runtime
from tests.conftest import loopback

STEP = 0.1  # simulated seconds between two requests of the app
OUTAGE = 25.0  # both deployments fail from t=0 until the secondary heals
PRIMARY_LAG = 3.0  # the primary heals this long after the secondary
WINDOW = 10.0  # how soon after its recovery the primary must have its share back
TAIL = 4.0  # the share is measured over the last seconds of that window
SEED = 20261201


def sidecar_yaml(primary: str, secondary: str, db: Path, resilience: str = "") -> str:
    return f"""
providers:
  primary: {{type: openai, base_url: '{primary}', api_key: 'sk-test-primary'}}
  secondary: {{type: openai, base_url: '{secondary}', api_key: 'sk-test-secondary'}}
models:
  m:
    price: {{input: 1.0, output: 2.0}}
    deployments:
      - {{provider: primary, model: up-primary, weight: 3}}
      - {{provider: secondary, model: up-secondary, weight: 1}}
route_log:
  path: '{db}'
{resilience}
"""


@dataclass
class Sent:
    at: float  # simulated seconds since the outage began
    status: int
    provider: str


@dataclass
class Scenario:
    rt: Runtime
    clock: ManualClock
    data_url: str
    admin_url: str
    http: aiohttp.ClientSession
    t0: float = 0.0
    sent: list[Sent] = field(default_factory=list)

    @property
    def now(self) -> float:
        return round(self.clock() - self.t0, 6)

    async def run_until(self, until: float, background_checks: bool = True) -> None:
        while self.now < until - 1e-9:
            if background_checks:
                await self.rt.health_checks.run_round()
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            async with self.http.post(self.data_url + "/v1/chat/completions", json=body) as resp:
                await resp.read()
                self.sent.append(Sent(self.now, resp.status, resp.headers.get("x-routecar-provider", "")))
            self.clock.advance(STEP)

    def share(self, provider: str, start: float, end: float) -> float:
        window = [s for s in self.sent if start <= s.at < end and s.status == 200]
        return sum(s.provider == provider for s in window) / len(window)

    async def state(self) -> dict[str, Any]:
        async with self.http.get(self.admin_url + "/state") as resp:
            return await resp.json()


@pytest.fixture
async def scenario(fake_factory, tmp_path) -> AsyncIterator[Callable[..., Any]]:
    """Builds the sidecar around a runtime with a manual health clock; stops all in teardown."""
    opened: list[Any] = []

    async def make(resilience: str = "") -> tuple[Scenario, Any, Any]:
        primary = await fake_factory("primary")
        secondary = await fake_factory("secondary")
        yaml = sidecar_yaml(primary.openai_base, secondary.openai_base, tmp_path / "routes.db", resilience)
        config = loopback(parse_config(yaml, source="outage.yaml"))
        clock = ManualClock()
        rt = Runtime(config, clock=clock, rng=random.Random(SEED), background_checks=False)
        await rt.start()
        opened.append(rt)
        data, admin = build_data_server(rt), build_admin_server(rt)
        opened.extend((data, admin))
        data_port = await data.listen("127.0.0.1", 0)
        admin_port = await admin.listen("127.0.0.1", 0)
        http = aiohttp.ClientSession()
        opened.append(http)
        sc = Scenario(rt, clock, f"http://127.0.0.1:{data_port}", f"http://127.0.0.1:{admin_port}", http,
                      t0=clock())
        return sc, primary, secondary

    yield make
    for thing in reversed(opened):
        if isinstance(thing, Runtime):
            await thing.close()
        elif isinstance(thing, aiohttp.ClientSession):
            await thing.close()
        else:
            await thing.shutdown(0.5)


async def outage(sc: Scenario, primary: Any, secondary: Any, *, checks: bool = True) -> None:
    """Both fail for OUTAGE s, the secondary heals, the primary PRIMARY_LAG s later; then the
    app goes on for WINDOW s."""
    primary.set_faults({"status": 500})
    secondary.set_faults({"status": 500})
    await sc.run_until(OUTAGE, checks)
    secondary.clear_faults()
    await sc.run_until(OUTAGE + PRIMARY_LAG, checks)
    primary.clear_faults()
    await sc.run_until(OUTAGE + PRIMARY_LAG + WINDOW, checks)


async def test_recovered_primary_gets_its_share_back_within_ten_seconds(scenario) -> None:
    sc, primary, secondary = await scenario()
    await outage(sc, primary, secondary)
    healed = OUTAGE + PRIMARY_LAG
    end = healed + WINDOW

    # The outage did open both circuits (the app saw 502/503 then, as it should).
    assert any(s.status != 200 for s in sc.sent if s.at < OUTAGE)
    # Once the secondary is back, the app sees no failure at all.
    late = [s for s in sc.sent if s.at >= OUTAGE + 1.0]
    assert late and all(s.status == 200 for s in late)
    # The primary's share (3 of 4) is back by the end of the window.
    share = sc.share("primary", end - TAIL, end)
    assert share >= 0.6, f"primary got {share:.0%} of the requests in the last {TAIL:g}s"

    state = await sc.state()
    dep = state["deployments"]["primary/up-primary"]
    assert dep["state"] == "closed"
    assert dep["health_check"]["ok"] is True and dep["health_check"]["reason"] == "HTTP 200"
    async with sc.http.get(sc.admin_url + "/metrics") as resp:
        metrics = await resp.text()
    assert 'routecar_health_checks_total{provider="primary",result="ok"}' in metrics
    assert 'routecar_health_checks_total{provider="primary",result="failed"}' in metrics


async def test_without_health_checks_the_primary_waits_one_open_time_not_five_minutes(scenario) -> None:
    # The other half of the fix, on its own: panic probes no longer escalate the open time, so
    # the primary sits out at most one base open time (30 s) after the last probe it failed.
    sc, primary, secondary = await scenario("resilience:\n  health_check: {enabled: false}\n")
    await outage(sc, primary, secondary, checks=False)
    state = await sc.state()
    dep = state["deployments"]["primary/up-primary"]
    assert dep["state"] == "open" and dep["health_check"] is None
    assert dep["trips"] == 1  # a long outage of panic probes is still one trip
    assert dep["open_until"] <= 30.0 - WINDOW - PRIMARY_LAG + 1.0  # was ~290 s before the fix
    end = OUTAGE + PRIMARY_LAG + WINDOW
    assert sc.share("primary", end - TAIL, end) == 0.0  # no checks: it waits the period out
