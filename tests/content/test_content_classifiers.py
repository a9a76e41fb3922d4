"""The classifier set of a config: which a route needs, and running them (or nothing)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from routecar.config.loader import parse_config
from routecar.config.model import Config
from routecar.content.classifiers import NO_RESULTS, Classifiers, labels_of, records_of
from routecar.content.result import ClassResult
from routecar.fake.embed import embed_text
from routecar.router.cost import build_routing_request
from routecar.router.plan import RoutingRequest

CONFIG = """
providers:
  p: {type: openai, base_url: "http://127.0.0.1:9/v1"}
models:
  small: {deployments: [{provider: p, model: gpt-4o-mini}], price: {input: 1.0, output: 2.0}}
  embed-small: {capabilities: [embeddings], deployments: [{provider: p, model: text-embedding-3-small}]}
classifiers:
  difficulty: {type: heuristic}
  judge: {type: llm, model: small, labels: [simple, moderate, complex], timeout: 200ms, default: moderate}
  topic:
    type: embedding
    model: embed-small
    min_similarity: 0.3
    timeout: 200ms
    default: other
    labels:
      billing: ["refund my order", "update my credit card", "I was charged twice"]
      tech: ["the app crashes on start", "error when I log in"]
routes:
  plain: {strategy: ordered, candidates: [small]}
  hard:
    strategy: ordered
    candidates: [small]
    rules:
      - {when: {class.difficulty: complex}, then: {strategy: cheapest}}
  smart:
    strategy: ordered
    candidates: [small]
    rules:
      - {when: {class.difficulty: complex}, then: {strategy: cheapest}}
      - {when: {class.topic: billing, class.judge: simple}, then: {model: small}}
      - {when: {tags.team: search}, then: {strategy: fastest}}
"""


def completion(content: str) -> dict[str, Any]:
    return {"object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
            "finish_reason": "stop"}], "usage": {"prompt_tokens": 50, "completion_tokens": 1, "total_tokens": 51}}


class Backends:
    """`call` and `embed` for the set; `meet` makes each wait until the other has started."""

    def __init__(self, meet: bool = False) -> None:
        self.meet = meet
        self.chat_calls = 0
        self.embed_calls = 0
        self.chat_started = asyncio.Event()
        self.embed_started = asyncio.Event()

    async def call(self, slug: str, body: dict[str, Any]) -> dict[str, Any]:
        self.chat_calls += 1
        self.chat_started.set()
        if self.meet:
            await self.embed_started.wait()
        return completion("simple")

    async def embed(self, slug: str, texts: list[str]) -> list[list[float]]:
        self.embed_calls += 1
        if len(texts) == 1:  # a classification, not prepare()
            self.embed_started.set()
            if self.meet:
                await self.chat_started.wait()
        return [embed_text(t, 256) for t in texts]


@pytest.fixture(scope="module")
def config() -> Config:
    return parse_config(CONFIG)


def req(text: str) -> RoutingRequest:
    return build_routing_request("chat", {"model": "smart", "messages": [{"role": "user", "content": text}]})


def test_needed_for_reads_class_conditions(config: Config) -> None:
    cs = Classifiers(config, Backends().call, Backends().embed)
    assert cs.names == {"difficulty", "judge", "topic"}
    assert cs.needed_for(config.routes["plain"]) == frozenset()
    assert cs.needed_for(config.routes["hard"]) == {"difficulty"}
    assert cs.needed_for(config.routes["smart"]) == {"difficulty", "judge", "topic"}
    assert cs.needed_for(config.routes["smart"]) is cs.needed_for(config.routes["smart"])  # memoized


def test_no_names_returns_at_once_without_awaiting(config: Config) -> None:
    backends = Backends()
    cs = Classifiers(config, backends.call, backends.embed)
    names = cs.needed_for(config.routes["plain"])
    coro = cs.classify(req("anything"), names)
    # The coroutine finishes on its first step: it never suspended, so it awaited nothing.
    with pytest.raises(StopIteration) as done:
        coro.send(None)
    assert done.value.value is NO_RESULTS and len(NO_RESULTS) == 0
    assert backends.chat_calls == backends.embed_calls == 0


def test_heuristic_runs_inline(config: Config) -> None:
    cs = Classifiers(config, Backends().call, Backends().embed)
    coro = cs.classify(req("Prove that there are infinitely many primes."), cs.needed_for(config.routes["hard"]))
    with pytest.raises(StopIteration) as done:
        coro.send(None)
    result = done.value.value["difficulty"]
    assert (result.label, result.source) == ("complex", "heuristic")


async def test_model_classifiers_run_concurrently(config: Config) -> None:
    backends = Backends(meet=True)  # run one after the other, the first would time out
    cs = Classifiers(config, backends.call, backends.embed)
    assert await cs.prepare() == {"topic": True}
    results = await cs.classify(req("please refund my order"), cs.needed_for(config.routes["smart"]))
    assert {n: (r.label, r.source) for n, r in results.items()} == {
        "difficulty": ("simple", "heuristic"), "judge": ("simple", "model"), "topic": ("billing", "model"),
    }
    assert results["judge"].cost_usd == pytest.approx(52e-6)
    assert labels_of(results) == {"difficulty": "simple", "judge": "simple", "topic": "billing"}
    records = records_of(results)
    assert records["topic"]["label"] == "billing" and "score" in records["topic"]
    await cs.close()


async def test_single_model_classifier_and_unknown_names(config: Config) -> None:
    backends = Backends()
    cs = Classifiers(config, backends.call, backends.embed)
    results = await cs.classify(req("hello there"), frozenset({"judge", "nope"}))
    assert set(results) == {"judge"} and backends.chat_calls == 1


async def test_unprepared_embedding_and_labels_of(config: Config) -> None:
    backends = Backends()
    cs = Classifiers(config, backends.call, backends.embed)  # prepare() never ran
    results = await cs.classify(req("refund my order"), frozenset({"topic"}))
    assert results["topic"].source == "unprepared" and labels_of(results) == {"topic": "other"}
    await cs.close()
    empty = {"x": ClassResult("", 1.0, None, "error")}
    assert labels_of(empty) == {}  # no label: no class.x rule can match
