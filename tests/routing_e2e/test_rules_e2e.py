"""Rule conditions and actions, and the context-window filter, through a running sidecar.

Each model is served by its own fake, so "never reached" is counted where it matters: at the
upstream.
"""

from __future__ import annotations

import aiohttp

from tests.helpers import route_rows
from tests.routing_e2e import chat, sidecar_yaml

MODELS = """
  cheap: {price: {input: 0.1, output: 0.1}, context_window: 100000, deployments: [{provider: pa, model: up-cheap}]}
  billing: {price: {input: 1, output: 1}, deployments: [{provider: pb, model: up-billing}]}
  big: {price: {input: 5, output: 5}, context_window: 1000000, deployments: [{provider: pc, model: up-big}]}
  tooly: {price: {input: 2, output: 2}, deployments: [{provider: pd, model: up-tooly}]}
  smart: {price: {input: 3, output: 3}, quality: 0.99, deployments: [{provider: pe, model: up-smart}]}
  local-llm: {price: {input: 0, output: 0}, deployments: [{provider: local, model: qwen-local}]}
"""
ROUTES = """
  support:
    strategy: cheapest
    candidates: [cheap, billing, big, tooly, smart]
    rules:
      - when: {matches: "(?i)passport|social security"}
        then: {model: local-llm}
      - when: {tags.team: billing}
        then: {candidates: [billing]}
      - when: {prompt_tokens_gt: 2000}
        then: {model: big}
      - when: {has_tools: true}
        then: {candidates: [tooly, big]}
      - when: {json_mode: true}
        then: {strategy: quality}
"""
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {
    "type": "object", "properties": {"q": {"type": "string"}}}}}]


async def test_each_rule_condition_and_action(fake_factory, sidecar_factory):
    names = ("pa", "pb", "pc", "pd", "pe", "local")
    fakes = {n: await fake_factory(n) for n in names}
    sc = await sidecar_factory(sidecar_yaml({n: ("openai", f.openai_base) for n, f in fakes.items()}, MODELS, ROUTES))
    async with aiohttp.ClientSession() as s:
        async def model_for(content: str = "hello", headers: dict | None = None, **extra) -> str:
            status, h, _ = await chat(s, sc, "support", content, headers, **extra)
            assert status == 200
            return h["x-routecar-model"]

        assert await model_for() == "cheap"  # no rule: the strategy
        assert await model_for(headers={"x-routecar-tags": "team=billing"}) == "billing"
        assert await model_for("word " * 2500) == "big"  # ~3100 estimated prompt tokens
        assert await model_for(tools=TOOLS) == "tooly"
        assert await model_for(response_format={"type": "json_object"}) == "smart"
        # PII is pinned to the self-hosted model, even when a later rule would match too.
        assert await model_for("my passport number is X123", {"x-routecar-tags": "team=billing"}) == "local-llm"
        assert await model_for("what is my Social Security number") == "local-llm"
    assert {n: f.requests for n, f in fakes.items()} == {"pa": 1, "pb": 1, "pc": 1, "pd": 1, "pe": 1, "local": 2}
    rows = await route_rows(sc, 7)
    assert rows[0]["rules_matched"] == []
    assert rows[1]["rules_matched"] and "tags.team" in rows[1]["rules_matched"][0]
    assert rows[1]["tags"] == {"team": "billing"}
    assert rows[5]["rules_matched"] and "matches" in rows[5]["rules_matched"][0]
    assert "pinned by rule" in rows[5]["reason"]
    assert rows[4]["strategy"] == "quality"


WINDOW_MODELS = """
  tiny: {price: {input: 0.01, output: 0.01}, context_window: 1000, deployments: [{provider: pa, model: up-tiny}]}
  tiny-spill: {price: {input: 0.01, output: 0.01}, context_window: 1000, fallbacks: [roomy],
               deployments: [{provider: pa, model: up-tiny2}]}
  roomy: {price: {input: 1, output: 1}, context_window: 200000, deployments: [{provider: pb, model: up-roomy}]}
"""


async def test_a_prompt_that_does_not_fit_never_reaches_the_model(fake_factory, sidecar_factory):
    fa, fb = await fake_factory("a"), await fake_factory("b")
    providers = {"pa": ("openai", fa.openai_base), "pb": ("openai", fb.openai_base)}
    sc = await sidecar_factory(sidecar_yaml(providers, WINDOW_MODELS, "  r: {strategy: cheapest, candidates: [tiny, roomy]}"))
    long_prompt = "lorem ipsum " * 700  # ~2100 estimated tokens, plus the expected answer
    async with aiohttp.ClientSession() as s:
        assert (await chat(s, sc, "r"))[1]["x-routecar-model"] == "tiny"
        assert fa.requests == 1
        status, h, _ = await chat(s, sc, "r", long_prompt)
        assert status == 200 and h["x-routecar-model"] == "roomy"
        status, _, body = await chat(s, sc, "tiny", long_prompt)  # asked for by name: nothing fits
        assert status == 400 and body["error"]["code"] == "context_length_exceeded"
        status, h, _ = await chat(s, sc, "tiny-spill", long_prompt)  # its fallback fits
        assert status == 200 and h["x-routecar-model"] == "roomy"
    assert fa.requests == 1 and fb.requests == 2
    rows = await route_rows(sc, 4)
    assert any(sk["slug"] == "tiny" and sk["why"].startswith("context too small") for sk in rows[1]["skipped"])
    assert rows[2]["outcome"] == "bad_request" and rows[2]["status"] == 400
