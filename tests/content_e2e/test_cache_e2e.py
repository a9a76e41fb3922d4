"""Answer caches through a running sidecar: exact hits and misses, who may use them (temperature 0,
`x-routecar-cache: use`, `Cache-Control: no-cache`), TTL, bounds, streamed replay to the OpenAI
SDK, the semantic cache, the Anthropic entry point, reloads, rows, metrics, and the spend a
repeated-prompt workload saves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import openai
import pytest

from routecar.content import ExactCache
from routecar.health import ManualClock
from routecar.stages import cache as cache_stage
from tests.helpers import route_rows

PRICE_IN, PRICE_OUT = 1.0, 2.0
TTL_PAST = 0.3  # past the `brief` route's 200ms ttl
DET = {"temperature": 0}


def config(fake: str, db: str, exact: str = "{ttl: 10m, max_entries: 2}") -> str:
    return f"""
providers:
  fake: {{type: openai, base_url: '{fake}', timeouts: {{connect: 1s, first_token: 2s, idle: 2s, total: 5s}}}}
models:
  m: {{price: {{input: {PRICE_IN}, output: {PRICE_OUT}}}, deployments: [{{provider: fake, model: m-up}}]}}
  embed: {{capabilities: [embeddings], price: {{input: 0.02, output: 0}}, deployments: [{{provider: fake, model: emb}}]}}
routes:
  plain: {{strategy: ordered, candidates: [m]}}
  cached: {{strategy: ordered, candidates: [m], cache: {{exact: {exact}}}}}
  brief: {{strategy: ordered, candidates: [m], cache: {{exact: {{ttl: 200ms}}}}}}
  roomy: {{strategy: ordered, candidates: [m], cache: {{exact: {{ttl: 10m}}}}}}
  meaning: {{strategy: ordered, candidates: [m], cache: {{semantic: {{model: embed, min_similarity: 0.95}}}}}}
route_log: {{path: "{db}", flush_interval: 50ms}}
"""


@dataclass
class Env:
    sc: Any
    fp: Any
    path: Path
    client: openai.AsyncOpenAI


@pytest.fixture
async def env(fake_factory: Any, sidecar_factory: Any, tmp_path: Path) -> AsyncIterator[Env]:
    fp = await fake_factory("fake", chunks=3)
    path = tmp_path / "sidecar.yaml"
    path.write_text(config(fp.openai_base, str(tmp_path / "routes.db")))
    sc = await sidecar_factory(path.read_text(), config_path=str(path))
    # One client for the test: building one costs tens of milliseconds (an SSL context).
    async with openai.AsyncOpenAI(base_url=sc.data_url + "/v1", api_key="app", max_retries=0) as c:
        yield Env(sc, fp, path, c)


async def ask(e: Env, route: str, text: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
    kw = {**DET, **kw}
    return await e.client.chat.completions.with_raw_response.create(
        model=route, messages=[{"role": "user", "content": text}], extra_headers=headers or {}, **kw)


def chat_requests(fp: Any) -> int:
    return int(fp.stats()["by_path"].get("/v1/chat/completions", 0))


async def test_exact_hit_repeats_the_answer_without_an_upstream_call(env: Env) -> None:
    sc, fp = env.sc, env.fp
    first = await ask(env, "cached", "What is a sidecar?")
    calls = chat_requests(fp)
    second = await ask(env, "cached", "What is a sidecar?", max_tokens=None)  # a null field is no field
    assert first.headers["x-routecar-cache"] == "miss" and second.headers["x-routecar-cache"] == "hit"
    assert chat_requests(fp) == calls, "a hit never reaches the provider"
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert second.headers["x-routecar-attempts"] == "0" and second.headers["x-routecar-model"] == "m"
    assert float(second.headers["x-routecar-cost-usd"]) == 0.0
    miss, hit = await route_rows(sc, 2)
    assert (miss["cache"], hit["cache"]) == ("miss", "hit")
    assert miss["cost_usd"] > 0 and hit["cost_usd"] == 0
    assert hit["est_cost_usd"] == pytest.approx(miss["cost_usd"]), "est_cost_usd of a hit is what it saved"
    assert hit["attempts"] == 0 and hit["outcome"] == "ok" and hit["chosen_model"] == "m"
    assert hit["provider"] is None and "hit" in hit["reason"]
    async with aiohttp.ClientSession() as http, http.get(sc.admin_url + "/metrics") as resp:
        text = await resp.text()
    assert 'routecar_cache_total{result="hit",route="cached"} 1.0' in text
    assert 'routecar_cache_total{result="miss",route="cached"} 1.0' in text
    assert 'routecar_cache_saved_usd_total{route="cached"}' in text


async def test_only_deterministic_or_opted_in_requests_use_the_cache(env: Env) -> None:
    sc, fp = env.sc, env.fp
    hot = await ask(env, "cached", "random idea", temperature=0.9)
    again = await ask(env, "cached", "random idea", temperature=0.9)
    assert hot.headers["x-routecar-cache"] == again.headers["x-routecar-cache"] == "bypass"
    use = {"x-routecar-cache": "use"}
    assert (await ask(env, "cached", "random idea", use, temperature=0.9)).headers["x-routecar-cache"] == "miss"
    assert (await ask(env, "cached", "random idea", use, temperature=0.9)).headers["x-routecar-cache"] == "hit"
    calls = chat_requests(fp)
    bypass = await ask(env, "cached", "random idea", {**use, "Cache-Control": "no-cache"}, temperature=0.9)
    assert bypass.headers["x-routecar-cache"] == "bypass" and chat_requests(fp) == calls + 1
    plain = await ask(env, "plain", "random idea")
    assert "x-routecar-cache" not in plain.headers, "routes without a cache say nothing about it"
    rows = await route_rows(sc, 6)
    assert [r["cache"] for r in rows] == ["", "", "miss", "hit", "", ""]


@pytest.fixture
def cache_clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    """The clock the exact caches built from here on read their TTLs on, handed in where the
    stage builds its caches (in place of the runtime's clock, which also drives health and the
    dispatcher). Requested before `env`, so the sidecar's caches are built with it."""
    clock = ManualClock()
    monkeypatch.setattr(cache_stage, "ExactCache", lambda cfg, _clock=None: ExactCache(cfg, clock=clock))
    return clock


async def test_entries_expire_after_their_ttl_and_the_oldest_is_evicted(cache_clock: ManualClock, env: Env) -> None:
    assert (await ask(env, "brief", "short lived")).headers["x-routecar-cache"] == "miss"
    assert (await ask(env, "brief", "short lived")).headers["x-routecar-cache"] == "hit"
    cache_clock.advance(TTL_PAST)
    assert (await ask(env, "brief", "short lived")).headers["x-routecar-cache"] == "miss"

    for text in ("one", "two", "three"):  # max_entries: 2, so "one" is pushed out
        assert (await ask(env, "cached", text)).headers["x-routecar-cache"] == "miss"
    assert (await ask(env, "cached", "three")).headers["x-routecar-cache"] == "hit"
    assert (await ask(env, "cached", "one")).headers["x-routecar-cache"] == "miss"


async def test_streaming_requests_get_the_cached_answer_replayed(env: Env) -> None:
    sc, fp = env.sc, env.fp
    first = (await ask(env, "cached", "stream me this")).parse()
    calls = chat_requests(fp)
    c = env.client
    async with c.chat.completions.with_streaming_response.create(
            model="cached", messages=[{"role": "user", "content": "stream me this"}], stream=True,
            stream_options={"include_usage": True}, **DET) as resp:
        assert resp.headers["x-routecar-cache"] == "hit"
        chunks = [ch async for ch in await resp.parse()]
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == first.choices[0].message.content and chat_requests(fp) == calls
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == first.usage.completion_tokens
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "stop"
    # A streamed miss is served upstream and not stored: only complete JSON answers are.
    stream = await c.chat.completions.create(model="cached", messages=[{"role": "user", "content": "fresh"}],
                                             stream=True, **DET)
    assert "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])
    assert (await ask(env, "cached", "fresh")).headers["x-routecar-cache"] == "miss"
    rows = await route_rows(sc, 4)
    assert (rows[1]["stream"], rows[1]["cache"], rows[1]["ttft_ms"] is not None) == (1, "hit", True)
    assert rows[2]["cache"] == "miss"


async def test_semantic_cache_answers_a_paraphrase_but_not_another_question(env: Env) -> None:
    sc, fp = env.sc, env.fp
    first = await ask(env, "meaning", "How do I reset my password?")
    assert first.headers["x-routecar-cache"] == "miss"
    near = await ask(env, "meaning", "how do I reset my password please")
    assert near.headers["x-routecar-cache"] == "semantic_hit"
    assert near.parse().choices[0].message.content == first.parse().choices[0].message.content
    other = await ask(env, "meaning", "How do I reset my router?")
    assert other.headers["x-routecar-cache"] == "miss"
    rows = await route_rows(sc, 3)
    assert [r["cache"] for r in rows] == ["miss", "semantic_hit", "miss"]
    embed_cost = rows[1]["cost_usd"]
    assert 0 < embed_cost < rows[0]["cost_usd"], "a semantic hit pays only its embedding call"
    assert int(fp.stats()["by_path"].get("/v1/embeddings", 0)) == 3


async def test_anthropic_entry_point_is_answered_from_the_cache(env: Env) -> None:
    sc = env.sc
    body = {"model": "cached", "max_tokens": 50, "temperature": 0,
            "messages": [{"role": "user", "content": "Name a colour."}]}
    async with aiohttp.ClientSession() as http:
        replies = []
        for _ in range(2):
            async with http.post(sc.data_url + "/v1/messages", json=body) as resp:
                replies.append((resp.headers["x-routecar-cache"], await resp.json()))
        async with http.post(sc.data_url + "/v1/messages", json={**body, "stream": True}) as resp:
            events = (await resp.read()).decode()
    (miss, a), (hit, b) = replies
    assert (miss, hit) == ("miss", "hit") and b["type"] == "message" and b["content"] == a["content"]
    assert "event: message_start" in events and "event: message_stop" in events
    assert a["content"][0]["text"].split()[0] in events


async def test_caches_survive_a_reload_that_keeps_their_settings(env: Env) -> None:
    sc, path = env.sc, env.path
    await ask(env, "cached", "keep me")
    text = path.read_text()
    path.write_text(text + "\n# a comment changes the hash, not the cache settings\n")
    assert await sc.reload("test")
    assert (await ask(env, "cached", "keep me")).headers["x-routecar-cache"] == "hit"
    path.write_text(text.replace("{ttl: 10m, max_entries: 2}", "{ttl: 10m, max_entries: 3}"))
    assert await sc.reload("test")
    assert (await ask(env, "cached", "keep me")).headers["x-routecar-cache"] == "miss"


async def test_repeated_prompt_workload_costs_a_tenth_with_the_cache(env: Env) -> None:
    sc = env.sc
    prompts = [f"Summarize topic number {i} in one line." for i in range(10)]
    for route in ("plain", "roomy"):
        for i in range(100):
            await ask(env, route, prompts[i % 10])
    rows = await route_rows(sc, 200)
    plain = [r for r in rows if r["route"] == "plain"]
    cached = [r for r in rows if r["route"] == "roomy"]
    without = sum(r["cost_usd"] for r in plain)
    with_cache = sum(r["cost_usd"] for r in cached)
    saved = sum(r["est_cost_usd"] for r in cached if r["cache"] == "hit")
    assert sum(r["cache"] == "hit" for r in cached) == 90
    assert with_cache == pytest.approx(without / 10)
    assert saved == pytest.approx(without - with_cache)
    print(f"\n100 requests / 10 prompts: without cache ${without:.6f}, with cache ${with_cache:.6f}, "
          f"saved ${saved:.6f}")
