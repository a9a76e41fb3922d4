"""The llm classifier: strict parsing, default on timeout/error, answers remembered by prompt."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from routecar.config.loader import parse_config
from routecar.config.model import ClassifierConfig, Config
from routecar.content.llm_classifier import DEFAULT_PROMPT, LLMClassifier, parse_label, render_prompt
from routecar.fake.server import FakeProvider
from routecar.router.cost import build_routing_request
from routecar.router.plan import RoutingRequest

CONFIG = """
providers:
  p: {type: openai, base_url: "http://127.0.0.1:9/v1"}
models:
  small: {deployments: [{provider: p, model: gpt-4o-mini}], price: {input: 1.0, output: 2.0}}
classifiers:
  judge: {type: llm, model: small, labels: [simple, moderate, complex], timeout: 50ms, default: moderate}
  custom:
    type: llm
    model: small
    labels: ["yes", "no"]
    default: "no"
    prompt: "Is this about money? Answer {labels}. Text: {text}"
routes:
  r: {strategy: ordered, candidates: [small]}
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def completion(content: Any, prompt_tokens: int = 100, completion_tokens: int = 2) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


class Canned:
    """A `call` that answers `content` and records what it was asked."""

    def __init__(self, content: Any = "complex", delay: float = 0.0, error: Exception | None = None) -> None:
        self.content = content
        self.delay = delay
        self.error = error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, slug: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((slug, body))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return completion(self.content)


@pytest.fixture(scope="module")
def config() -> Config:
    return parse_config(CONFIG)


def judge(config: Config, call: Any, **kw: Any) -> LLMClassifier:
    return LLMClassifier(config.classifiers["judge"], call, config.models["small"], **kw)


def req(text: str) -> RoutingRequest:
    return build_routing_request("chat", {"model": "r", "messages": [{"role": "user", "content": text}]})


LABELS = {"simple": "simple", "moderate": "moderate", "complex": "complex"}


@pytest.mark.parametrize("answer,expected", [
    ("complex", "complex"),
    ("Complex", "complex"),
    ("  COMPLEX.\n", "complex"),
    ('"simple"', "simple"),
    ("'moderate'!", "moderate"),
    ("**complex**", "complex"),
    ("complex\nbecause it asks for a proof", "complex"),
    ("The label is complex", None),
    ("complex, or maybe moderate", None),
    ("very complex", None),
    ("", None),
    ("unknown", None),
])
def test_parse_label_is_strict(answer: str, expected: str | None) -> None:
    assert parse_label(answer, LABELS) == expected


def test_render_prompt_keeps_braces_in_text() -> None:
    prompt = render_prompt(DEFAULT_PROMPT, ("a", "b"), "json like {labels} and {\"k\": 1}")
    assert "a, b" in prompt and 'json like {labels} and {"k": 1}' in prompt
    assert render_prompt("Pick {labels}.", ("a",), "TEXT").endswith("\n\nTEXT")


async def test_label_from_model_with_cost(config: Config) -> None:
    call = Canned("complex")
    result = await judge(config, call).classify(req("Prove Fermat's last theorem."))
    assert (result.label, result.source) == ("complex", "model")
    # 100 prompt tokens at $1/M + 2 completion tokens at $2/M
    assert result.cost_usd == pytest.approx(100e-6 + 4e-6)
    slug, body = call.calls[0]
    assert slug == "small" and body["temperature"] == 0 and body["max_tokens"] <= 16
    assert body["stream"] is False
    assert "Prove Fermat's last theorem." in body["messages"][0]["content"]
    assert "simple, moderate, complex" in body["messages"][0]["content"]


async def test_custom_prompt_template(config: Config) -> None:
    call = Canned("Yes")
    c = LLMClassifier(config.classifiers["custom"], call)
    result = await c.classify(req("refund me"))
    assert result.label == "yes" and result.cost_usd is None  # no model given: no price
    assert call.calls[0][1]["messages"][0]["content"] == "Is this about money? Answer yes, no. Text: refund me"


async def test_unparseable_answer_is_default(config: Config) -> None:
    result = await judge(config, Canned("I think it is complex")).classify(req("hello"))
    assert (result.label, result.source) == ("moderate", "default")
    assert result.cost_usd is not None  # the call was paid for all the same


async def test_timeout_gives_default(config: Config) -> None:
    result = await judge(config, Canned("complex", delay=5.0)).classify(req("hello"))
    assert (result.label, result.source) == ("moderate", "timeout")


async def test_error_gives_default(config: Config) -> None:
    result = await judge(config, Canned(error=RuntimeError("upstream 502"))).classify(req("hello"))
    assert (result.label, result.source, result.cost_usd) == ("moderate", "error", None)


async def test_malformed_completion_gives_default(config: Config) -> None:
    async def weird(slug: str, body: dict[str, Any]) -> Any:
        return {"choices": []}

    result = await judge(config, weird).classify(req("hello"))
    assert (result.label, result.source) == ("moderate", "default")

    async def odd_usage(slug: str, body: dict[str, Any]) -> Any:
        return {**completion("simple"), "usage": {"prompt_tokens": "many"}}

    result = await judge(config, odd_usage).classify(req("hello"))
    assert (result.label, result.source, result.cost_usd) == ("simple", "model", None)


async def test_no_default_means_no_label() -> None:
    cfg = ClassifierConfig(name="j", type="llm", model="small", labels=("a", "b"), timeout=0.05)
    result = await LLMClassifier(cfg, Canned(error=OSError("down"))).classify(req("hello"))
    assert result.label == "" and result.source == "error"


async def test_empty_text_needs_no_call(config: Config) -> None:
    call = Canned("complex")
    result = await judge(config, call).classify(req("   "))
    assert (result.label, result.source) == ("moderate", "default") and not call.calls


async def test_repeats_come_from_the_cache_until_ttl(config: Config) -> None:
    clock = Clock()
    call = Canned("simple")
    c = judge(config, call, clock=clock, memo_ttl=600.0)
    first = await c.classify(req("What is 2+2?"))
    again = await c.classify(req("What is 2+2?"))
    assert first.source == "model" and (again.label, again.source, again.cost_usd) == ("simple", "cache", 0.0)
    assert len(call.calls) == 1
    await c.classify(req("Something else"))
    assert len(call.calls) == 2
    clock.now += 601
    assert (await c.classify(req("What is 2+2?"))).source == "model"
    assert len(call.calls) == 3


async def test_failures_are_not_remembered(config: Config) -> None:
    call = Canned(error=RuntimeError("boom"))
    c = judge(config, call)
    await c.classify(req("hello"))
    call.error = None
    result = await c.classify(req("hello"))
    assert (result.label, result.source) == ("complex", "model")


async def test_memo_is_bounded(config: Config) -> None:
    call = Canned("simple")
    c = judge(config, call, memo_entries=2)
    for text in ("a1", "a2", "a3"):
        await c.classify(req(text))
    assert (await c.classify(req("a3"))).source == "cache"
    assert (await c.classify(req("a1"))).source == "model"  # evicted as least recently used


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_through_a_fake_provider(config: Config, session: aiohttp.ClientSession) -> None:
    async with FakeProvider(name="judge") as fp:
        async def call(slug: str, body: dict[str, Any]) -> dict[str, Any]:
            async with session.post(fp.openai_base + "/chat/completions",
                                    json={**body, "model": "gpt-4o-mini"}) as resp:
                resp.raise_for_status()
                return await resp.json()

        c = LLMClassifier(config.classifiers["judge"], call, config.models["small"],
                          clock=Clock())  # the fake's prose is no label: the strict parser says default
        ok = await c.classify(req("Design a cache for a web service."))
        assert (ok.label, ok.source) == ("moderate", "default")
        assert ok.cost_usd is not None and ok.cost_usd > 0
        assert fp.requests == 1

        fp.set_faults({"status": 500})
        failed = await c.classify(req("Another prompt"))
        assert (failed.label, failed.source) == ("moderate", "error")
