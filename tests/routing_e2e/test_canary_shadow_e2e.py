"""Canary share and rollback, and shadow decisions, through a running sidecar."""

from __future__ import annotations


import aiohttp
import pytest

from tests.helpers import route_rows
from tests.routing_e2e import burst, chat, models_of, sidecar_yaml

MODELS = """
  stable: {price: {input: 1, output: 1}, deployments: [{provider: pa, model: up-stable}]}
  other: {price: {input: 2, output: 2}, deployments: [{provider: pb, model: up-other}]}
  fresh: {price: {input: 1, output: 1}, deployments: [{provider: pc, model: up-fresh}]}
  smart: {price: {input: 9, output: 9}, quality: 0.95, deployments: [{provider: pd, model: up-smart}]}
"""
ROUTES = """
  chat:
    strategy: cheapest
    candidates: [stable, other, smart]
    canary: {model: fresh, percent: 20}
    shadow: {strategy: quality}
  risky:
    strategy: cheapest
    candidates: [stable, other]
    canary: {model: fresh, percent: 50, rollback: {min_requests: 5, max_error_rate_delta: 0.1}}
"""
N = 200


async def _sidecar(fake_factory, sidecar_factory):
    fakes = {n: await fake_factory(n) for n in ("pa", "pb", "pc", "pd")}
    sc = await sidecar_factory(sidecar_yaml({n: ("openai", f.openai_base) for n, f in fakes.items()}, MODELS, ROUTES))
    return sc, fakes


async def test_canary_takes_its_share_and_shadow_is_logged(fake_factory, sidecar_factory):
    sc, fakes = await _sidecar(fake_factory, sidecar_factory)
    async with aiohttp.ClientSession() as s:
        picks = []
        for _ in range(N // 50):
            picks += models_of(await burst(s, sc, "chat", 50))
    canaries = picks.count("fresh")
    # Binomial(200, 0.2): mean 40, sd ~5.7; the band is over 4 sd wide on each side.
    assert 15 <= canaries <= 65
    assert picks.count("stable") == N - canaries
    assert fakes["pc"].requests == canaries and fakes["pd"].requests == 0
    rows = await route_rows(sc, N)
    assert sum(r["canary"] for r in rows) == canaries
    assert all((r["chosen_model"] == "fresh") == bool(r["canary"]) for r in rows)
    assert all(r["reason"].startswith("canary fresh (20%)") for r in rows if r["canary"])
    # The shadow strategy's choice is logged, never enforced.
    assert {r["shadow_model"] for r in rows} == {"smart"}
    monitor = sc.runtime.routing_state.canary.snapshot()["chat"]
    assert monitor["canary_samples"] == canaries and monitor["baseline_samples"] == N - canaries
    assert monitor["disabled"] is None


async def test_a_failing_canary_is_rolled_back(fake_factory, sidecar_factory):
    sc, fakes = await _sidecar(fake_factory, sidecar_factory)
    fakes["pc"].set_faults({"status": 500})  # the new model fails; its requests fail over
    async with aiohttp.ClientSession() as s:
        for _ in range(100):  # bounded: rollback needs 5 outcomes per arm
            await chat(s, sc, "risky")
            monitor = sc.runtime.routing_state.canary
            if not monitor.enabled("risky"):
                break
        else:
            pytest.fail("the failing canary was never rolled back")
        reached = fakes["pc"].requests
        answers = await burst(s, sc, "risky", 20)
    assert all(status == 200 for status, _, _ in answers)
    assert set(models_of(answers)) == {"stable"} and fakes["pc"].requests == reached
    assert "rolled back" in monitor.snapshot()["risky"]["disabled"]
    rows = await route_rows(sc, 20)
    last = rows[-1]
    assert not last["canary"]
    assert any(sk["slug"] == "fresh" and "rolled back" in sk["why"] for r in rows[-20:] for sk in r["skipped"])


async def test_state_shows_canaries_and_budgets(fake_factory, sidecar_factory):
    sc, _ = await _sidecar(fake_factory, sidecar_factory)
    async with aiohttp.ClientSession() as s:
        await chat(s, sc, "chat")
        features = sc.runtime.routing_state.state(sc.runtime.generation.config)
        assert set(features["canary"]) == {"chat", "risky"}
        assert features["canary"]["chat"]["model"] == "fresh"
        async with s.get(sc.admin_url + "/state") as resp:
            state = await resp.json()
    assert state["canary"]["chat"]["model"] == "fresh"
