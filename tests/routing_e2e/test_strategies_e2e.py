"""Each strategy picks the expected model through a running sidecar.

Prices, quality and windows come from the bundled catalog where the config leaves them out
(the deployments are named like real models), so these also prove the catalog defaults reach
the router.

Deterministic: the sidecar runs on a manual clock with a seeded random source (tests/clocked.py),
so the latencies the strategies weigh are the simulated ones, never a loaded machine's noise,
and exploration picks the same requests on every run.
"""

from __future__ import annotations

from collections import Counter

import aiohttp
import pytest

from routecar.fake.server import FakeProvider
from routecar.health import ManualClock
from tests.clocked import clocked_sidecar, simulated_latency
from tests.helpers import route_rows
from tests.routing_e2e import burst, chat, models_of, sidecar_yaml

SEED = 20261204

MODELS = """
  mini: {deployments: [{provider: pa, model: gpt-4o-mini}]}
  big: {deployments: [{provider: pb, model: gpt-4o}]}
  tuned: {quality: 0.95, deployments: [{provider: pc, model: gpt-4o-mini}]}
"""
ROUTES = """
  cheap: {strategy: cheapest, candidates: [big, mini]}
  best: {strategy: quality, candidates: [mini, big]}
  best_tuned: {strategy: quality, candidates: [mini, big, tuned]}
  bal: {strategy: balanced, candidates: [big, mini]}
  bal_quality: {strategy: balanced, candidates: [mini, big], balance: {cost: 0.1, latency: 0, quality: 0.9}}
"""


async def test_cheapest_quality_and_balanced(fake_factory, tmp_path):
    fa, fb, fc = await fake_factory("a"), await fake_factory("b"), await fake_factory("c")
    providers = {"pa": ("openai", fa.openai_base), "pb": ("openai", fb.openai_base),
                 "pc": ("openai", fc.openai_base)}
    # The clock never moves: every measured latency is 0, so `balanced` is decided by cost and
    # quality alone, as its weights say, and not by which fake the machine happened to favour.
    async with clocked_sidecar(sidecar_yaml(providers, MODELS, ROUTES), tmp_path, seed=SEED) as sc, \
            aiohttp.ClientSession() as s:
        status, h, body = await chat(s, sc, "cheap")
        assert status == 200 and h["x-routecar-model"] == "mini"  # catalog: $0.15/$0.60 vs $2.50/$10
        usage = body["usage"]
        assert float(h["x-routecar-cost-usd"]) == pytest.approx(
            (usage["prompt_tokens"] * 0.15 + usage["completion_tokens"] * 0.60) / 1e6)
        assert (await chat(s, sc, "best"))[1]["x-routecar-model"] == "big"  # catalog quality 0.80 > 0.62
        assert (await chat(s, sc, "best_tuned"))[1]["x-routecar-model"] == "tuned"  # the file's 0.95 wins
        # Default weights favour the cheap model whatever the (noise-level) latencies are...
        assert set(models_of(await burst(s, sc, "bal", 5))) == {"mini"}
        # ...a route that weighs quality picks the better one.
        assert set(models_of(await burst(s, sc, "bal_quality", 5))) == {"big"}
    rows = await route_rows(sc, 13)
    first = rows[0]
    assert first["strategy"] == "cheapest" and first["reason"].startswith("route 'cheap' cheapest: mini")
    scores = {c["slug"]: c["score"] for c in first["candidates"]}
    assert scores["mini"] < scores["big"]
    assert fc.requests == 1


FAST_MODELS = """
  alpha: {price: {input: 1, output: 1}, deployments: [{provider: pa, model: up-alpha}]}
  beta: {price: {input: 1, output: 1}, deployments: [{provider: pb, model: up-beta}]}
"""


FAST_S, SLOW_S, SLOWED_S = 0.010, 0.060, 0.150  # alpha, beta, alpha once it turns slow
APP_PACE_S = 2.0  # simulated time between two requests of the app


async def one_by_one(s: aiohttp.ClientSession, sc, model: str, n: int) -> list[str]:
    """`n` requests in a row, the clock moving APP_PACE_S between them: each one's measured
    latency is exactly its upstream's simulated one (concurrent requests would share moves)."""
    picks = []
    for _ in range(n):
        picks.append((await chat(s, sc, model))[1]["x-routecar-model"])
        sc.clock.advance(APP_PACE_S)
    return picks


async def test_fastest_follows_a_slow_provider_and_comes_back(tmp_path):
    clock = ManualClock()
    latency = {"a": FAST_S, "b": SLOW_S}
    fa, fb = FakeProvider(name="a"), FakeProvider(name="b")
    for fake in (fa, fb):  # before they start: a started aiohttp app takes no new middleware
        simulated_latency(fake, clock, latency)
    async with fa, fb:
        providers = {"pa": ("openai", fa.openai_base), "pb": ("openai", fb.openai_base)}
        yaml = sidecar_yaml(providers, FAST_MODELS, "  fast: {strategy: fastest, candidates: [alpha, beta]}")
        async with clocked_sidecar(yaml, tmp_path, seed=SEED, clock=clock) as sc, aiohttp.ClientSession() as s:
            # Other traffic has measured both deployments (the window needs a few samples).
            await one_by_one(s, sc, "alpha", 6)
            await one_by_one(s, sc, "beta", 6)
            picks = await one_by_one(s, sc, "fast", 10)
            assert Counter(picks)["alpha"] >= 8  # 5% of decisions explore the other model

            latency["a"] = SLOWED_S  # alpha turns slow
            # Routed before anything knew: these measure it, until alpha's slow samples outnumber
            # its fast ones and its median crosses beta's.
            await one_by_one(s, sc, "fast", 40)
            picks = await one_by_one(s, sc, "fast", 10)
            assert Counter(picks)["beta"] >= 8

            latency["a"] = FAST_S  # alpha recovers: exploration re-measures it, and once its slow
            # samples have aged out of the window (300 s, simulated), traffic returns.
            for _ in range(20):  # bounded: 800 requests, 1600 simulated seconds
                if Counter(await one_by_one(s, sc, "fast", 40))["alpha"] >= 30:
                    break
            else:
                pytest.fail("fastest never returned to the recovered provider")
            # What the router weighed is the simulated latency itself, not the machine's.
            assert sc.runtime.health.view("pa/up-alpha").latency_p50 == pytest.approx(FAST_S)
            assert sc.runtime.health.view("pb/up-beta").latency_p50 == pytest.approx(SLOW_S)
            rows = [r for r in await route_rows(sc, 22) if r["route"] == "fast"]
    assert rows and all(r["strategy"] == "fastest" for r in rows)
    assert any("latency p50 seconds" in r["reason"] for r in rows)  # measured, not the name prior


async def test_fastest_finds_a_faster_model_listed_second_within_a_few_requests(tmp_path):
    """The slow model is listed first and nothing is measured yet: a name prior would keep the
    traffic there for about a hundred requests; measuring the unmeasured first takes a few."""
    clock = ManualClock()
    latency = {"a": 0.300, "b": 0.010}  # alpha slow, beta fast
    fa, fb = FakeProvider(name="a"), FakeProvider(name="b")
    for fake in (fa, fb):
        simulated_latency(fake, clock, latency)
    async with fa, fb:
        providers = {"pa": ("openai", fa.openai_base), "pb": ("openai", fb.openai_base)}
        yaml = sidecar_yaml(providers, FAST_MODELS, "  fast: {strategy: fastest, candidates: [alpha, beta]}")
        async with clocked_sidecar(yaml, tmp_path, seed=SEED, clock=clock) as sc, aiohttp.ClientSession() as s:
            picks = await one_by_one(s, sc, "fast", 30)
    assert Counter(picks[-10:])["beta"] >= 9, picks
    assert Counter(picks[:10])["beta"] >= 5, picks  # found early, not after a hundred requests
    rows = [r for r in await route_rows(sc, 30)]
    assert any("tried first so that it gets measured" in r["reason"] for r in rows)
