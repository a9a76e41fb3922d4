"""Azure OpenAI deployments (`type: azure`) through a real `routecar serve`, called with the real
`openai` SDK: the deployment in the URL path, `?api-version=`, the key in `api-key` (or an
Entra ID token as a bearer token), never the app's Authorization; unary, stream, embeddings,
the Responses API translated through chat, and Azure's error bodies."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import openai
import orjson
import pytest
from aiohttp import web

from tests.e2e.recording_upstream import Recorder, Seen
from tests.lifecycle.conftest import SidecarProcess

KEY = "azkey-0123456789-secret"
AAD = "aad-token-9876543210-secret"
CREATED = {"id": "chatcmpl-az", "created": 1, "model": "gpt-4o-2024-11-20", "system_fingerprint": "fp_az"}
# Azure's first stream chunk: content-filter results for the prompt, no choices.
FILTER_CHUNK = {"id": "", "object": "", "created": 0, "model": "", "choices": [],
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {**CREATED, "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "content_filter_results": {}}]}


def azure_app(rec: Recorder) -> web.Application:
    async def record(request: web.Request) -> bytes:
        body = await request.read()
        rec.seen.append(Seen(request.path, request.query_string, {k.lower(): v for k, v in request.headers.items()},
                             body))
        return body

    async def chat(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await record(request))
        if request.match_info["deployment"] == "gone":
            return web.json_response({"error": {"code": "DeploymentNotFound", "message":
                                      "The API deployment for this resource does not exist."}}, status=404)
        usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        if not body.get("stream"):
            return web.json_response({**CREATED, "object": "chat.completion", "usage": usage,
                                      "prompt_filter_results": FILTER_CHUNK["prompt_filter_results"],
                                      "choices": [{"index": 0, "finish_reason": "stop",
                                                   "message": {"role": "assistant", "content": "hi there"}}]})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        chunks = [FILTER_CHUNK, _chunk({"role": "assistant", "content": ""}), _chunk({"content": "hi"}),
                  _chunk({"content": " there"}), _chunk({}, "stop"), {**CREATED, "object": "chat.completion.chunk",
                                                                      "choices": [], "usage": usage}]
        for chunk in chunks:
            await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def embeddings(request: web.Request) -> web.Response:
        await record(request)
        return web.json_response({"object": "list", "model": "text-embedding-3-small",
                                  "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]}],
                                  "usage": {"prompt_tokens": 2, "total_tokens": 2}})

    app = web.Application()
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", chat)
    app.router.add_post("/openai/deployments/{deployment}/embeddings", embeddings)
    return app


@pytest.fixture
async def azure() -> AsyncIterator[Recorder]:
    rec = Recorder()
    runner = web.AppRunner(azure_app(rec), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield rec
    await runner.cleanup()


def serve_yaml(rec: Recorder, db: Path) -> str:
    return f"""
server: {{listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0"}}
providers:
  az: {{type: azure, base_url: '{rec.url}/', api_version: 2024-10-21, api_key: {KEY},
        forward_headers: [x-app-trace]}}
  aad: {{type: azure, base_url: '{rec.url}/openai', api_version: 2024-10-01-preview,
         azure_ad_token: "${{AZURE_AD_TOKEN}}"}}
models:
  gpt: {{deployments: [{{provider: az, model: my-gpt4o}}]}}
  gpt-aad: {{deployments: [{{provider: aad, model: dep-aad}}]}}
  gone: {{deployments: [{{provider: az, model: gone}}]}}
  emb: {{capabilities: [embeddings], deployments: [{{provider: az, model: my-embed}}]}}
route_log: {{path: '{db}', flush_interval: 50ms}}
"""


def _assert_key_auth(seen: Seen) -> None:
    assert seen.headers["api-key"] == KEY
    assert "authorization" not in seen.headers  # never the app's bearer token, nor the key as one


async def test_azure_deployments_through_routecar_serve(azure: Recorder, tmp_path: Path) -> None:
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(serve_yaml(azure, tmp_path / "routes.db"))
    sidecar = SidecarProcess(cfg, env={**os.environ, "AZURE_AD_TOKEN": AAD})
    try:
        await sidecar.start()
        chat_path = "/openai/deployments/my-gpt4o/chat/completions"
        async with openai.AsyncOpenAI(base_url=sidecar.data_url + "/v1", api_key="sk-app", max_retries=0) as oai:
            answer = await oai.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}],
                                                       extra_headers={"x-app-trace": "t-1"})
            assert answer.choices[0].message.content == "hi there" and answer.model == "gpt"
            assert answer.usage is not None and answer.usage.total_tokens == 5
            seen = azure.last(chat_path)
            assert seen.query == "api-version=2024-10-21"
            _assert_key_auth(seen)
            assert seen.headers["x-app-trace"] == "t-1" and seen.json["model"] == "my-gpt4o"

            stream = await oai.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}],
                                                       stream=True, stream_options={"include_usage": True})
            chunks = [c async for c in stream]
            assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hi there"
            assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 5
            seen = azure.last(chat_path)
            assert seen.json["stream"] is True and seen.query == "api-version=2024-10-21"
            _assert_key_auth(seen)

            # An Entra ID token instead of the key; base_url given with Azure's /openai prefix.
            answer = await oai.chat.completions.create(model="gpt-aad", messages=[{"role": "user", "content": "hi"}])
            assert answer.choices[0].message.content == "hi there"
            seen = azure.last("/openai/deployments/dep-aad/chat/completions")
            assert seen.query == "api-version=2024-10-01-preview"
            assert seen.headers["authorization"] == f"Bearer {AAD}" and "api-key" not in seen.headers

            emb = await oai.embeddings.create(model="emb", input="hello")
            assert emb.data[0].embedding == [0.5, -0.25]
            seen = azure.last("/openai/deployments/my-embed/embeddings")
            assert seen.query == "api-version=2024-10-21"
            _assert_key_auth(seen)

            # The Responses API takes the translated path: chat completions at the deployment.
            before = len(azure.seen)
            resp = await oai.responses.create(model="gpt", input="hello there")
            assert resp.output_text == "hi there" and resp.model == "gpt"
            events = [e async for e in await oai.responses.create(model="gpt", input="hello there", stream=True)]
            assert events[-1].type == "response.completed" and events[-1].response.output_text == "hi there"
            assert [s.path for s in azure.seen[before:]] == [chat_path, chat_path]
            with pytest.raises(openai.BadRequestError, match="previous_response_id"):
                await oai.responses.create(model="gpt", input="more", previous_response_id="resp_1")

            # Azure's error bodies are OpenAI's: the message reaches the app.
            with pytest.raises(openai.NotFoundError, match="deployment for this resource does not exist"):
                await oai.chat.completions.create(model="gone", messages=[{"role": "user", "content": "hi"}])

        async with aiohttp.ClientSession() as http:
            async with http.get(sidecar.admin_url + "/state") as state:
                text = await state.text()
        for secret in (KEY, AAD):
            assert secret not in text and secret not in "\n".join(sidecar.lines)
    finally:
        await sidecar.kill()
