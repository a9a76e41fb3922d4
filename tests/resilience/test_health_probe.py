"""The network side of active health checks (dispatch/health_probe.py): one probe through the
provider's pool against a real fake provider, and rounds driven by hand with a manual clock."""

from __future__ import annotations

import asyncio
import random
import socket
from typing import AsyncIterator

import pytest

from routecar.config.model import ProviderConfig
from routecar.dispatch.health_probe import ActiveHealthChecks, probe_provider
from routecar.health import AttemptResult, HealthRegistry, ManualClock
from routecar.health.checker import HealthChecker, ProbeResult
from routecar.http1 import DeadlineTicker, Pool
from routecar.providers.anthropic import AnthropicAdapter
from routecar.providers.gemini import GeminiAdapter
from routecar.providers.openai import OpenAIAdapter
from tests.health.builders import two_provider_config

KEY = "sk-test-probe-secret-0123456789"
ADAPTERS = {"openai": OpenAIAdapter(), "anthropic": AnthropicAdapter(), "gemini": GeminiAdapter()}


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_url(fp, type_: str) -> str:
    return fp.openai_base if type_ == "openai" else fp.url


@pytest.fixture
async def pools() -> AsyncIterator[list[Pool]]:
    made: list[Pool] = []
    yield made
    for pool in made:
        await pool.close()


async def probe(pools: list[Pool], url: str, type_: str = "openai", timeout: float = 2.0) -> ProbeResult:
    pool = Pool(url, max_connections=4)
    pools.append(pool)
    provider = ProviderConfig(name="p", type=type_, base_url=url, api_key=KEY)
    return await probe_provider(pool, ADAPTERS[type_], provider, timeout, DeadlineTicker(asyncio.get_running_loop()))


@pytest.mark.parametrize("type_", ["openai", "anthropic", "gemini"])
async def test_healthy_provider_answers_2xx(fake_factory, pools, type_) -> None:
    fp = await fake_factory("up", require_key=True)  # the probe carries the provider's key
    assert await probe(pools, base_url(fp, type_), type_) == ProbeResult(True, "HTTP 200")


async def test_error_status_is_unhealthy_and_the_reason_carries_no_provider_text(fake_factory, pools) -> None:
    fp = await fake_factory("down")
    fp.set_faults({"status": 401, "message": f"invalid key {KEY}"})
    result = await probe(pools, fp.openai_base)
    assert result == ProbeResult(False, "HTTP 401")
    fp.set_faults({"status": 503})
    assert await probe(pools, fp.openai_base) == ProbeResult(False, "HTTP 503")


async def test_refused_connection_is_unhealthy(pools) -> None:
    result = await probe(pools, f"http://127.0.0.1:{unused_port()}/v1")
    assert result == ProbeResult(False, "connect failed")


async def test_a_hanging_provider_costs_at_most_the_timeout(fake_factory, pools) -> None:
    fp = await fake_factory("hang")
    fp.set_faults({"hang": True})
    result = await probe(pools, fp.openai_base, timeout=0.2)
    assert result == ProbeResult(False, "timeout")


# -- rounds, with a fake probe and a manual clock -----------------------------------------------

def tripped_registry() -> tuple[HealthRegistry, ManualClock]:
    clock = ManualClock()
    reg = HealthRegistry(two_provider_config(), clock=clock)
    for dep in ("a/m-up", "b/m-up"):
        for _ in range(5):
            assert reg.admit(dep).ok
            reg.on_start(dep)
            reg.on_finish(dep, AttemptResult("failure", status=500))
    return reg, clock


def checks(reg: HealthRegistry, clock: ManualClock, probe_fn, timeout: float = 1.0,
           seen: list[tuple[str, ProbeResult]] | None = None) -> ActiveHealthChecks:
    on_result = (lambda p, r: seen.append((p, r))) if seen is not None else None
    return ActiveHealthChecks(HealthChecker(reg, 5.0, clock, random.Random(3).random), probe_fn, timeout,
                              on_result=on_result)


async def test_round_probes_each_due_provider_once_and_applies_the_results() -> None:
    reg, clock = tripped_registry()
    asked: list[str] = []

    async def fake_probe(provider: str) -> ProbeResult:
        asked.append(provider)
        return ProbeResult(provider == "a", "HTTP 200" if provider == "a" else "HTTP 503")

    seen: list[tuple[str, ProbeResult]] = []
    hc = checks(reg, clock, fake_probe, seen=seen)
    assert await hc.run_round() == []  # circuits just seen open: first probes one interval on
    clock.advance(6)
    done = await hc.run_round()
    assert sorted(asked) == ["a", "b"]
    assert sorted(p for p, _ in seen) == ["a", "b"] and len(done) == 2
    assert reg.breaker_states() == {"a/m-up": "half_open", "b/m-up": "open", "b/n-up": "closed"}
    assert await hc.run_round() == []  # nothing is due again before the next interval


async def test_a_probe_that_raises_or_hangs_is_a_failed_check_not_a_failed_round() -> None:
    reg, clock = tripped_registry()

    async def bad_probe(provider: str) -> ProbeResult:
        if provider == "a":
            raise RuntimeError("boom")
        await asyncio.Event().wait()  # never answers: the round's timeout ends it
        raise AssertionError("unreachable")

    hc = checks(reg, clock, bad_probe, timeout=0.05)
    await hc.run_round()
    clock.advance(6)
    results = dict((t.provider, r) for t, r in await hc.run_round())
    assert results == {"a": ProbeResult(False, "probe error (RuntimeError)"), "b": ProbeResult(False, "timeout")}
    assert reg.breaker_states()["a/m-up"] == "open"


async def test_background_task_runs_rounds_until_closed() -> None:
    reg, clock = tripped_registry()
    recorded = asyncio.Event()

    async def fake_probe(provider: str) -> ProbeResult:
        return ProbeResult(False, "HTTP 503")

    def on_result(provider: str, result: ProbeResult) -> None:
        seen.append(provider)
        recorded.set()

    seen: list[str] = []
    hc = ActiveHealthChecks(HealthChecker(reg, 5.0, clock, random.Random(3).random), fake_probe, 1.0,
                            on_result=on_result)
    hc.checker.due()  # the circuits are seen open now...
    clock.advance(6)  # ...and their first probes are due
    hc.start()
    hc.start()  # a second start is a no-op
    assert hc.running
    async with asyncio.timeout(2):
        await recorded.wait()
    await hc.close()
    assert not hc.running
    assert sorted(seen) == ["a", "b"]  # one probe per provider, sent by the task on its own
