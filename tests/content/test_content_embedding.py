"""The embedding classifier: centroids, nearest label, min_similarity, failures, background prepare."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from routecar.config.loader import parse_config
from routecar.config.model import ClassifierConfig, Config
from routecar.content.embedding_classifier import EmbeddingClassifier
from routecar.content.vectors import centroid, cosine, dot, normalize
from routecar.fake.embed import embed_text
from routecar.fake.server import FakeProvider
from routecar.router.cost import build_routing_request
from routecar.router.plan import RoutingRequest

CONFIG = """
providers:
  p: {type: openai, base_url: "http://127.0.0.1:9/v1"}
models:
  small: {deployments: [{provider: p, model: gpt-4o-mini}]}
  embed-small: {capabilities: [embeddings], deployments: [{provider: p, model: text-embedding-3-small}]}
classifiers:
  topic:
    type: embedding
    model: embed-small
    min_similarity: 0.3
    timeout: 50ms
    default: other
    labels:
      billing: ["refund my order", "update my credit card", "I was charged twice"]
      tech: ["the app crashes on start", "error when I log in"]
routes:
  r: {strategy: ordered, candidates: [small]}
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Embedder:
    """An `embed` backed by the fake's hashed bag-of-words vectors."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.calls: list[tuple[str, list[str]]] = []
        self.error: Exception | None = None
        self.delay = 0.0
        self.override: list[list[float]] | None = None

    async def __call__(self, slug: str, texts: list[str]) -> list[list[float]]:
        self.calls.append((slug, list(texts)))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        if self.override is not None:
            return self.override
        return [embed_text(t, self.dim) for t in texts]


@pytest.fixture(scope="module")
def cfg() -> ClassifierConfig:
    config: Config = parse_config(CONFIG)
    return config.classifiers["topic"]


def req(text: str) -> RoutingRequest:
    return build_routing_request("chat", {"model": "r", "messages": [{"role": "user", "content": text}]})


def test_vector_math() -> None:
    assert normalize([3.0, 4.0]) == [0.6, 0.8]
    assert normalize([0.0, 0.0]) is None and normalize([]) is None
    assert normalize([1.0, float("nan")]) is None and normalize(["x"]) is None
    assert cosine([1.0, 0.0], [2.0, 0.0]) == pytest.approx(1.0)
    assert cosine([1.0, 0.0], [0.0, 0.0]) == 0.0
    c = centroid([[1.0, 0.0], [0.0, 5.0]])  # normalized first: equal weight
    assert c is not None and c[0] == pytest.approx(c[1]) and dot(c, c) == pytest.approx(1.0)
    assert centroid([[1.0, 0.0], [1.0, 0.0, 0.0]]) is None
    assert centroid([[1.0], [-1.0]]) is None


async def test_nearest_centroid_and_default(cfg: ClassifierConfig) -> None:
    embed = Embedder()
    c = EmbeddingClassifier(cfg, embed)
    assert await c.prepare() and c.prepared
    assert embed.calls[0] == ("embed-small", [t for ts in cfg.labels.values() for t in ts])  # one batch

    billing = await c.classify(req("please refund my order"))
    assert (billing.label, billing.source) == ("billing", "model")
    assert billing.score is not None and billing.score >= 0.3
    tech = await c.classify(req("the app crashes when I start it"))
    assert (tech.label, tech.source) == ("tech", "model")
    other = await c.classify(req("what is the weather in Paris"))
    assert (other.label, other.source) == ("other", "default")
    assert embed.calls[-1] == ("embed-small", ["what is the weather in Paris"])


async def test_repeats_are_remembered(cfg: ClassifierConfig) -> None:
    embed = Embedder()
    c = EmbeddingClassifier(cfg, embed)
    await c.prepare()
    await c.classify(req("please refund my order"))
    again = await c.classify(req("please refund my order"))
    assert (again.label, again.source) == ("billing", "cache")
    assert len(embed.calls) == 2  # prepare + the first classification


async def test_timeout_and_errors_give_default(cfg: ClassifierConfig) -> None:
    embed = Embedder()
    c = EmbeddingClassifier(cfg, embed)
    await c.prepare()
    embed.delay = 5.0
    assert (await c.classify(req("refund please"))).source == "timeout"
    embed.delay, embed.error = 0.0, ConnectionError("down")
    result = await c.classify(req("refund please"))
    assert (result.label, result.source) == ("other", "error")
    embed.error, embed.override = None, [[1.0, 0.0]]  # wrong dimension
    assert (await c.classify(req("refund please"))).source == "error"
    embed.override = []
    assert (await c.classify(req("refund please"))).source == "error"


async def test_unusable_example_vectors_fail_prepare(cfg: ClassifierConfig) -> None:
    embed = Embedder()
    embed.override = [[1.0, 0.0]]  # one vector for five examples
    c = EmbeddingClassifier(cfg, embed)
    assert not await c.prepare() and not c.prepared


async def test_unprepared_answers_default_and_retries_in_background(cfg: ClassifierConfig) -> None:
    clock, embed = Clock(), Embedder()
    embed.error = ConnectionError("provider down at start")
    c = EmbeddingClassifier(cfg, embed, clock=clock, retry_interval=30.0)
    assert not await c.prepare()
    for _ in range(5):
        result = await c.classify(req("please refund my order"))
        assert (result.label, result.source) == ("other", "unprepared")
    assert len(embed.calls) == 1  # no retry before the interval

    embed.error = None
    clock.now += 31
    assert (await c.classify(req("please refund my order"))).source == "unprepared"
    assert c._retry is not None
    assert await c._retry  # the background prepare, started by that request
    assert len(embed.calls) == 2 and c.prepared
    assert (await c.classify(req("please refund my order"))).label == "billing"
    await c.close()


async def test_close_cancels_a_running_prepare(cfg: ClassifierConfig) -> None:
    clock, embed = Clock(), Embedder()
    embed.error = ConnectionError("down")
    c = EmbeddingClassifier(cfg, embed, clock=clock, prepare_timeout=60.0)
    await c.prepare()
    embed.error, embed.delay = None, 60.0
    clock.now += 31
    await c.classify(req("hi"))
    task = c._retry
    assert task is not None and not task.done()
    await c.close()
    assert task.cancelled()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_through_a_fake_provider(cfg: ClassifierConfig, session: aiohttp.ClientSession) -> None:
    async with FakeProvider(name="emb", embedding_dim=256) as fp:
        async def embed(slug: str, texts: list[str]) -> list[list[float]]:
            body = {"model": "text-embedding-3-small", "input": texts}
            async with session.post(fp.openai_base + "/embeddings", json=body) as resp:
                resp.raise_for_status()
                data = (await resp.json())["data"]
                return [item["embedding"] for item in sorted(data, key=lambda d: d["index"])]

        c = EmbeddingClassifier(cfg, embed)
        assert await c.prepare()
        assert (await c.classify(req("I was charged twice for my order"))).label == "billing"
        assert (await c.classify(req("error when I try to log in"))).label == "tech"
        assert (await c.classify(req("tell me a joke about cats"))).label == "other"
        assert fp.requests == 4
