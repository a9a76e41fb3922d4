"""The real openai SDK against the sidecar in front of real fake providers."""

from __future__ import annotations

import asyncio

import openai
import pytest

from tests.conftest import one_model_yaml
from tests.helpers import route_rows


def client(sc, **kw) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=sc.data_url + "/v1", api_key="app-key", max_retries=0, **kw)


async def test_non_streaming_chat_and_headers(fake_factory, sidecar_factory):
    fp = await fake_factory("a")
    sc = await sidecar_factory(one_model_yaml(fp.openai_base))
    raw = await client(sc).chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "hello there"}],
        extra_headers={"x-routecar-request-id": "req-123", "x-routecar-tags": "team=search"})
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert completion.usage.prompt_tokens > 0
    h = raw.headers
    assert h["x-routecar-request-id"] == "req-123"
    assert h["x-routecar-model"] == "m"
    assert h["x-routecar-provider"] == "p0"
    assert h["x-routecar-attempts"] == "1"
    assert float(h["x-routecar-overhead-ms"]) >= 0
    expected = (completion.usage.prompt_tokens * 1.0 + completion.usage.completion_tokens * 2.0) / 1e6
    assert float(h["x-routecar-cost-usd"]) == pytest.approx(expected, rel=1e-6)
    rows = await route_rows(sc, 1)
    row = rows[0]
    assert row["request_id"] == "req-123" and row["outcome"] == "ok" and row["status"] == 200
    assert row["chosen_model"] == "m" and row["upstream_model"] == "up-0" and row["provider"] == "p0"
    assert row["tags"] == {"team": "search"}
    assert row["cost_usd"] == pytest.approx(expected, rel=1e-6)


async def test_streaming_chat_with_and_without_usage(fake_factory, sidecar_factory):
    fp = await fake_factory("a", chunks=5)
    sc = await sidecar_factory(one_model_yaml(fp.openai_base))
    c = client(sc)
    stream = await c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
    chunks = [ch async for ch in stream]
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text
    assert all(ch.choices for ch in chunks), "the usage chunk routecar asked for must not leak to the app"
    stream = await c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True,
                                             stream_options={"include_usage": True})
    chunks = [ch async for ch in stream]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    rows = await route_rows(sc, 2)
    assert all(r["stream"] == 1 and r["outcome"] == "ok" for r in rows)
    assert all(r["completion_tokens"] and r["cost_usd"] > 0 for r in rows), "cost comes from usage even unasked"
    assert all(r["ttft_ms"] is not None for r in rows)


async def test_embeddings_and_models(fake_factory, sidecar_factory):
    fp = await fake_factory("a")
    sc = await sidecar_factory(one_model_yaml(fp.openai_base, extra="routes:\n  r1: {strategy: ordered, candidates: [m]}"))
    c = client(sc)
    emb = await c.embeddings.create(model="embed", input=["refund my order", "the app crashes"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) > 0
    models = await c.models.list()
    ids = {m.id for m in models.data}
    assert {"m", "embed", "r1"} <= ids


async def test_route_name_routes(fake_factory, sidecar_factory):
    fp = await fake_factory("a")
    sc = await sidecar_factory(one_model_yaml(fp.openai_base, extra="routes:\n  r1: {strategy: ordered, candidates: [m]}"))
    raw = await client(sc).chat.completions.with_raw_response.create(
        model="r1", messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-routecar-route"] == "r1"
    assert raw.headers["x-routecar-model"] == "m"


async def test_stream_is_not_buffered(fake_factory, sidecar_factory):
    """The first chunk reaches the app while the upstream is still sending the rest."""
    fp = await fake_factory("a", chunks=6, chunk_delay_ms=150)
    sc = await sidecar_factory(one_model_yaml(fp.openai_base))
    stream = await client(sc).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}],
                                                      stream=True)
    seen_while_upstream_busy = None
    async for ch in stream:
        if ch.choices and ch.choices[0].delta.content:
            seen_while_upstream_busy = fp.stats()["in_flight"]
            break
    await stream.close()
    assert seen_while_upstream_busy == 1


async def test_client_disconnect_cancels_upstream(fake_factory, sidecar_factory):
    fp = await fake_factory("a", chunks=50, chunk_delay_ms=100)
    sc = await sidecar_factory(one_model_yaml(fp.openai_base))
    stream = await client(sc).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}],
                                                      stream=True, extra_headers={"x-routecar-request-id": "gone"})
    async for ch in stream:
        if ch.choices and ch.choices[0].delta.content:
            break
    await stream.close()
    for _ in range(100):  # bounded: 5 s at most
        if fp.stats()["in_flight"] == 0:
            break
        await asyncio.sleep(0.05)
    assert fp.stats()["in_flight"] == 0
    rows = await route_rows(sc, 1)
    assert rows[0]["request_id"] == "gone" and rows[0]["outcome"] == "client_cancelled"
