"""OpenAI in, OpenAI out: the upstream's answer bytes reach the app as they are."""

from __future__ import annotations

import json
from typing import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import one_model_yaml

# Pretty-printed, with a field routecar knows nothing about: a re-serialized answer would differ.
UPSTREAM_BODY = json.dumps({
    "id": "chatcmpl-raw", "object": "chat.completion", "created": 1, "model": "up-0",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    "system_fingerprint": "fp_x", "x_vendor_extra": {"kept": True},
}, indent=2).encode()


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    async def chat(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=UPSTREAM_BODY, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    await runner.cleanup()


async def test_an_openai_answer_is_forwarded_byte_for_byte(upstream: str, sidecar_factory) -> None:
    sc = await sidecar_factory(one_model_yaml(upstream))
    async with aiohttp.ClientSession() as http:
        async with http.post(sc.data_url + "/v1/chat/completions",
                             json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}) as resp:
            body = await resp.read()
            assert resp.status == 200
            assert float(resp.headers["x-routecar-cost-usd"]) > 0  # usage was still read for the cost
            assert resp.headers["x-routecar-upstream-model"] == "up-0"
    # Byte for byte, bar `model`: the model-field rule puts the slug the app asked for there.
    assert body == UPSTREAM_BODY.replace(b'"model": "up-0"', b'"model": "m"')


async def test_an_answer_already_naming_the_model_is_forwarded_untouched(upstream: str, sidecar_factory) -> None:
    """A slug named like its upstream model (the usual case): the answer needs no splice."""
    sc = await sidecar_factory(one_model_yaml(upstream).replace("  m:\n", "  up-0:\n", 1))
    async with aiohttp.ClientSession() as http:
        async with http.post(sc.data_url + "/v1/chat/completions",
                             json={"model": "up-0", "messages": [{"role": "user", "content": "hi"}]}) as resp:
            assert resp.status == 200, await resp.text()
            assert await resp.read() == UPSTREAM_BODY


async def test_a_translated_answer_is_serialized(upstream: str, sidecar_factory) -> None:
    """The Anthropic entry point answers in its own shape, so nothing is forwarded raw."""
    sc = await sidecar_factory(one_model_yaml(upstream))
    async with aiohttp.ClientSession() as http:
        async with http.post(sc.data_url + "/v1/messages",
                             json={"model": "m", "max_tokens": 5,
                                   "messages": [{"role": "user", "content": "hi"}]}) as resp:
            payload = await resp.json()
            assert resp.status == 200
    assert payload["type"] == "message" and payload["content"][0]["text"] == "hi"
