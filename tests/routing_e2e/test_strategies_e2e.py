"""Each strategy picks the expected model through a running sidecar.

Prices, quality and windows come from the bundled catalog where the config leaves them out
(the deployments are named like real models), so these also prove the catalog defaults reach
the router.
"""

from __future__ import annotations

from collections import Counter

import aiohttp
import pytest

from tests.helpers import route_rows
from tests.routing_e2e import burst, chat, models_of, sidecar_yaml

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


async def test_cheapest_quality_and_balanced(fake_factory, sidecar_factory):
    fa, fb, fc = await fake_factory("a"), await fake_factory("b"), await fake_factory("c")
    providers = {"pa": ("openai", fa.openai_base), "pb": ("openai", fb.openai_base),
                 "pc": ("openai", fc.openai_base)}
    sc = await sidecar_factory(sidecar_yaml(providers, MODELS, ROUTES))
    async with aiohttp.ClientSession() as s:
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


async def test_fastest_follows_a_slow_provider_and_comes_back(fake_factory, sidecar_factory):
    fa, fb = await fake_factory("a"), await fake_factory("b", latency_ms=60)
    providers = {"pa": ("openai", fa.openai_base), "pb": ("openai", fb.openai_base)}
    sc = await sidecar_factory(sidecar_yaml(providers, FAST_MODELS, "  fast: {strategy: fastest, candidates: [alpha, beta]}"))
    async with aiohttp.ClientSession() as s:
        # Other traffic has measured both deployments (the window needs a few samples).
        await burst(s, sc, "alpha", 6)
        await burst(s, sc, "beta", 6)
        picks = [(await chat(s, sc, "fast"))[1]["x-routecar-model"] for _ in range(10)]
        assert Counter(picks)["alpha"] >= 8  # 5% of decisions explore the other model

        fa.set_faults({"latency_ms": 150})  # alpha turns slow
        # Routed before anything knew: these measure it. Enough of them that alpha's slow samples
        # outnumber its earlier fast ones even when exploration sends a few to beta.
        await burst(s, sc, "fast", 40)
        picks = [(await chat(s, sc, "fast"))[1]["x-routecar-model"] for _ in range(10)]
        assert Counter(picks)["beta"] >= 8

        fa.clear_faults()  # alpha recovers; exploration re-measures it and traffic returns
        for _ in range(40):  # bounded: each burst explores alpha ~5% of the time
            picks = models_of(await burst(s, sc, "fast", 40))
            if Counter(picks)["alpha"] >= 30:
                break
        else:
            pytest.fail("fastest never returned to the recovered provider")
    rows = [r for r in await route_rows(sc, 22) if r["route"] == "fast"]
    assert rows and all(r["strategy"] == "fastest" for r in rows)
    assert any("latency p50 seconds" in r["reason"] for r in rows)  # measured, not the name prior
