"""Classifiers steering routes through a running sidecar: heuristic, llm (a tiny in-test upstream
that answers with a label), embedding (the fake provider's meaningful embeddings), the llm
classifier timing out to its default, and routes that need nothing paying nothing."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Awaitable, Callable

import openai
import pytest
from aiohttp import web

from routecar.router.cost import build_routing_request
from routecar.routelog.record import RouteRecord
from routecar.stages.exchange import Exchange
from tests.helpers import route_rows

JUDGE_PROMPT_TOKENS, JUDGE_COMPLETION_TOKENS = 40, 1
SLOW_SECONDS = 2.0  # far past the slow classifier's 50ms timeout; cut short at teardown

SIMPLE = "What is the capital of France?"
COMPLEX = ("Write a Python function that implements Dijkstra shortest paths, then compare its trade-offs "
           "with A* and analyze the complexity step by step.")


class LabelUpstream:
    """An OpenAI-compatible upstream whose every chat answer is `label`, after `delay` seconds."""

    def __init__(self, label: str, delay: float = 0.0) -> None:
        self.label, self.delay, self.calls = label, delay, 0
        self.prompts: list[str] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls += 1
        self.prompts.append(body["messages"][-1]["content"])
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.json_response({
            "id": "chatcmpl-label", "object": "chat.completion", "created": 1, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": self.label},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": JUDGE_PROMPT_TOKENS, "completion_tokens": JUDGE_COMPLETION_TOKENS,
                      "total_tokens": JUDGE_PROMPT_TOKENS + JUDGE_COMPLETION_TOKENS},
        })

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1, handler_cancellation=True)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


@pytest.fixture
async def label_factory() -> AsyncIterator[Callable[..., Awaitable[LabelUpstream]]]:
    started: list[LabelUpstream] = []

    async def make(label: str, delay: float = 0.0) -> LabelUpstream:
        up = LabelUpstream(label, delay)
        await up.start()
        started.append(up)
        return up

    yield make
    for up in started:
        assert up.runner is not None
        await up.runner.cleanup()


def config(fake: str, judge: str, slow: str) -> str:
    def rule(cls: str, label: str) -> str:
        return f"[{{when: {{class.{cls}: {label}}}, then: {{model: strong}}}}]"
    return f"""
providers:
  fake: {{type: openai, base_url: '{fake}', timeouts: {{connect: 1s, first_token: 2s, idle: 2s, total: 5s}}}}
  judge: {{type: openai, base_url: '{judge}'}}
  slow: {{type: openai, base_url: '{slow}'}}
models:
  cheap: {{price: {{input: 0.1, output: 0.2}}, deployments: [{{provider: fake, model: cheap-up}}]}}
  strong: {{price: {{input: 5.0, output: 15.0}}, deployments: [{{provider: fake, model: strong-up}}]}}
  judge-m: {{price: {{input: 1.0, output: 1.0}}, deployments: [{{provider: judge, model: judge-up}}]}}
  slow-m: {{price: {{input: 1.0, output: 1.0}}, deployments: [{{provider: slow, model: slow-up}}]}}
  embed: {{capabilities: [embeddings], price: {{input: 0.02, output: 0}}, deployments: [{{provider: fake, model: emb}}]}}
classifiers:
  difficulty: {{type: heuristic}}
  judge: {{type: llm, model: judge-m, labels: [simple, complex], timeout: 2s, default: simple}}
  slowjudge: {{type: llm, model: slow-m, labels: [simple, complex], timeout: 50ms, default: simple}}
  topic:
    type: embedding
    model: embed
    min_similarity: 0.3
    default: other
    labels:
      billing: ["refund my order", "update my card", "I was charged twice"]
      tech: ["the app crashes on start", "error when I log in"]
routes:
  plain: {{strategy: ordered, candidates: [cheap]}}
  auto: {{strategy: ordered, candidates: [cheap], rules: {rule('difficulty', 'complex')}}}
  judged: {{strategy: ordered, candidates: [cheap], rules: {rule('judge', 'complex')}}}
  slow: {{strategy: ordered, candidates: [cheap], rules: {rule('slowjudge', 'complex')}}}
  topical: {{strategy: ordered, candidates: [cheap], rules: {rule('topic', 'billing')}}}
route_log: {{path: "${{DB}}", flush_interval: 50ms}}
"""


@pytest.fixture
async def setup(fake_factory: Any, sidecar_factory: Any, label_factory: Any) -> AsyncIterator[tuple[Any, ...]]:
    fp = await fake_factory("fake")
    judge = await label_factory("complex")
    slow = await label_factory("complex", delay=SLOW_SECONDS)
    sc = await sidecar_factory(config(fp.openai_base, judge.base, slow.base))
    yield sc, judge, slow, fp


async def ask(sc: Any, route: str, text: str) -> Any:
    c = openai.AsyncOpenAI(base_url=sc.data_url + "/v1", api_key="app", max_retries=0)
    return await c.chat.completions.with_raw_response.create(model=route, messages=[{"role": "user", "content": text}])


async def test_heuristic_sends_simple_prompts_cheap_and_complex_ones_strong(setup: Any) -> None:
    sc, judge, _, _ = setup
    simple, complex_ = await ask(sc, "auto", SIMPLE), await ask(sc, "auto", COMPLEX)
    assert simple.headers["x-routecar-model"] == "cheap"
    assert complex_.headers["x-routecar-model"] == "strong"
    rows = await route_rows(sc, 2)
    assert [r["classes"]["difficulty"]["label"] for r in rows] == ["simple", "complex"]
    assert rows[0]["classes"]["difficulty"]["source"] == "heuristic"
    assert rows[1]["rules_matched"] and rows[1]["upstream_model"] == "strong-up"
    assert judge.calls == 0, "a route reads only the classifiers its rules name"


async def test_llm_classifier_label_steers_and_its_cost_lands_in_the_row(setup: Any) -> None:
    sc, judge, _, _ = setup
    raw = await ask(sc, "judged", "hello there")
    assert raw.headers["x-routecar-model"] == "strong"
    assert judge.calls == 1 and "hello there" in judge.prompts[0] and "simple, complex" in judge.prompts[0]
    await ask(sc, "judged", "hello there")
    assert judge.calls == 1, "a repeated prompt is labelled from the classifier's memo"
    rows = await route_rows(sc, 2)
    first, second = rows
    judge_cost = (JUDGE_PROMPT_TOKENS * 1.0 + JUDGE_COMPLETION_TOKENS * 1.0) / 1e6
    cls = first["classes"]["judge"]
    assert cls["label"] == "complex" and cls["source"] == "model"
    assert cls["cost_usd"] == pytest.approx(judge_cost) and cls["latency_ms"] >= 0
    answer_cost = (first["prompt_tokens"] * 5.0 + first["completion_tokens"] * 15.0) / 1e6
    assert first["cost_usd"] == pytest.approx(answer_cost + judge_cost)
    assert float(raw.headers["x-routecar-cost-usd"]) == pytest.approx(answer_cost + judge_cost)
    assert second["classes"]["judge"]["source"] == "cache"
    assert second["cost_usd"] == pytest.approx(answer_cost)

    c = openai.AsyncOpenAI(base_url=sc.data_url + "/v1", api_key="app", max_retries=0)
    stream = await c.chat.completions.create(model="judged", messages=[{"role": "user", "content": "stream it"}],
                                             stream=True)
    assert "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])
    streamed = (await route_rows(sc, 3))[2]
    streamed_cost = (streamed["prompt_tokens"] * 5.0 + streamed["completion_tokens"] * 15.0) / 1e6
    assert streamed["chosen_model"] == "strong" and streamed["cost_usd"] == pytest.approx(streamed_cost + judge_cost)


async def test_llm_classifier_timeout_falls_back_to_its_default(setup: Any) -> None:
    sc, _, slow, _ = setup
    raw = await ask(sc, "slow", "hello there")
    assert raw.headers["x-routecar-model"] == "cheap", "the default label (simple) keeps the route's candidates"
    rows = await route_rows(sc, 1)
    cls = rows[0]["classes"]["slowjudge"]
    assert cls["label"] == "simple" and cls["source"] == "timeout" and "cost_usd" not in cls
    assert rows[0]["outcome"] == "ok" and slow.calls <= 1


async def test_embedding_classifier_labels_by_examples(fake_factory: Any, sidecar_factory: Any,
                                                       label_factory: Any) -> None:
    fp = await fake_factory("fake")
    # The examples' embedding (prepared in the background from start-up) is slow this once,
    # so the first request surely finds the classifier unprepared.
    fp.set_faults({"latency_ms": 500, "paths": ["/v1/embeddings"], "count": 1})
    judge = await label_factory("complex")
    sc = await sidecar_factory(config(fp.openai_base, judge.base, judge.base))
    early = await ask(sc, "topical", "I want a refund for my order")
    assert early.headers["x-routecar-model"] == "cheap", "unprepared: the default label, never a wait"
    assert await sc.runtime.generation.pipeline.stage("classify").prepared() == {"topic": True}
    billing = await ask(sc, "topical", "I want a refund for my order")
    other = await ask(sc, "topical", "tell me a joke about cats")
    assert billing.headers["x-routecar-model"] == "strong"
    assert other.headers["x-routecar-model"] == "cheap"
    assert fp.stats()["by_path"]["/v1/embeddings"] == 3, "the examples are embedded once, then one call a prompt"
    rows = await route_rows(sc, 3)
    assert rows[0]["classes"]["topic"] == {**rows[0]["classes"]["topic"], "label": "other", "source": "unprepared"}
    assert rows[1]["classes"]["topic"]["label"] == "billing" and rows[1]["classes"]["topic"]["score"] > 0.3
    assert rows[2]["classes"]["topic"]["label"] == "other" and rows[2]["classes"]["topic"]["source"] == "default"


async def test_routes_without_classifiers_or_caches_take_the_fast_path(setup: Any, fake_factory: Any,
                                                                       sidecar_factory: Any) -> None:
    sc, judge, slow, _ = setup
    pipeline = sc.runtime.generation.pipeline
    plain = build_routing_request("chat", {"model": "plain", "messages": [{"role": "user", "content": "hi"}]})
    by_slug = build_routing_request("chat", {"model": "cheap", "messages": [{"role": "user", "content": "hi"}]})
    for routing in (plain, by_slug):  # no stage has a hook for these: nothing but plan and execute
        ex = Exchange(RouteRecord(0.0, "t", "chat"), 0.0, {})
        ex.routing = routing
        assert pipeline.stages_for(ex) == ((), (), ())
    await ask(sc, "plain", COMPLEX)
    rows = await route_rows(sc, 1)
    assert rows[0]["classes"] == {} and rows[0]["cache"] == ""
    assert judge.calls == slow.calls == 0

    # A config without classifiers or caches builds no classifier object at all.
    fp = await fake_factory("bare")
    bare = await sidecar_factory(config(fp.openai_base, judge.base, slow.base).split("classifiers:")[0]
                                 + "routes:\n  plain: {strategy: ordered, candidates: [cheap]}\n"
                                 + "route_log: {path: \"${DB}2\", flush_interval: 50ms}\n")
    await ask(bare, "plain", "hi")
    assert bare.runtime.generation.pipeline.stages == ()
