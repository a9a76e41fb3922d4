"""type: vertex through a real `routecar serve`: a service-account key made in the test whose
token_uri is a local OAuth2 token endpoint (JWT-bearer grant), and a local Vertex server that
records each request, checks the bearer token, and answers Gemini JSON or SSE."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

import anthropic
import openai
import orjson
import pytest
from aiohttp import web

from tests.e2e.cloud_env import clean_env
from tests.lifecycle.conftest import SidecarProcess
from tests.providers.google_token_server import TokenServer, service_account_file, token_server

__all__ = ["token_server"]  # the fixture

PROJECT, LOCATION, MODEL = "proj-e2e", "europe-west4", "gemini-2.0-flash-001"
PREFIX = f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{MODEL}"
CLAUDE = "claude-sonnet-4@20250514"
CLAUDE_PREFIX = f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/anthropic/models/{CLAUDE}"
CLAUDE_MESSAGE = {"id": "msg_vx", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
                  "content": [{"type": "text", "text": "Bonjour."}], "stop_reason": "end_turn", "stop_sequence": None,
                  "usage": {"input_tokens": 9, "output_tokens": 3, "cache_read_input_tokens": 4}}
EMBED_PATH = f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/text-embedding-005:predict"


def _answer(text: str, finish: str | None) -> dict:
    cand: dict = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    return {"candidates": [cand], "modelVersion": MODEL,
            "usageMetadata": {"promptTokenCount": 6, "candidatesTokenCount": 2, "totalTokenCount": 8}}


@dataclass
class Seen:
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class VertexServer:
    url: str = ""
    seen: list[Seen] = field(default_factory=list)

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.seen.append(Seen(request.path, request.query_string,
                                  {k.lower(): v for k, v in request.headers.items()}, await request.read()))
            if request.headers.get("Authorization") != "Bearer tok-1":
                return web.json_response({"error": {"code": 401, "message": "bad token", "status": "UNAUTHENTICATED"}},
                                         status=401)
            if request.path == CLAUDE_PREFIX + ":rawPredict":
                return web.json_response(CLAUDE_MESSAGE)
            if request.path == CLAUDE_PREFIX + ":streamRawPredict":
                resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
                await resp.prepare(request)
                start = {**CLAUDE_MESSAGE, "content": [], "stop_reason": None,
                         "usage": {"input_tokens": 9, "output_tokens": 1}}
                for name, event in (
                        ("message_start", {"type": "message_start", "message": start}),
                        ("content_block_start", {"type": "content_block_start", "index": 0,
                                                 "content_block": {"type": "text", "text": ""}}),
                        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                 "delta": {"type": "text_delta", "text": "Bon"}}),
                        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                 "delta": {"type": "text_delta", "text": "jour."}}),
                        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                           "usage": {"output_tokens": 3}}),
                        ("message_stop", {"type": "message_stop"})):
                    await resp.write(f"event: {name}\ndata: ".encode() + orjson.dumps(event) + b"\n\n")
                await resp.write_eof()
                return resp
            if request.path == EMBED_PATH:
                instances = orjson.loads(self.seen[-1].body)["instances"]
                return web.json_response({"predictions": [
                    {"embeddings": {"values": [float(i), 0.5], "statistics": {"token_count": 2 + i, "truncated": False}}}
                    for i, _ in enumerate(instances)]})
            if request.path == PREFIX + ":generateContent":
                return web.json_response(_answer("Hallo.", "STOP"))
            if request.path == PREFIX + ":streamGenerateContent" and request.query_string == "alt=sse":
                resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
                await resp.prepare(request)
                for part in (_answer("Hal", None), _answer("lo!", "STOP")):
                    await resp.write(b"data: " + orjson.dumps(part) + b"\r\n\r\n")
                await resp.write_eof()
                return resp
            return web.json_response({"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}},
                                     status=404)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        return app


@pytest.fixture
async def vertex_server() -> AsyncIterator[VertexServer]:
    server = VertexServer()
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield server
    await runner.cleanup()


async def test_vertex_unary_and_stream_through_routecar_serve(vertex_server: VertexServer, token_server: TokenServer,
                                                              tmp_path: Path) -> None:
    key_file = service_account_file(tmp_path, token_server.url)
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(f"""
server: {{listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0"}}
providers:
  vx: {{type: vertex, project: {PROJECT}, location: {LOCATION}, base_url: '{vertex_server.url}',
        credentials_file: {key_file.name}, timeouts: {{connect: 2s, first_token: 10s, idle: 10s, total: 30s}}}}
models:
  flash: {{deployments: [{{provider: vx, model: {MODEL}}}]}}
  sonnet: {{price: {{input: 3, output: 15, cached_input: 0.3}}, deployments: [{{provider: vx, model: '{CLAUDE}'}}]}}
  embed: {{capabilities: [embeddings], price: {{input: 0.025, output: 0}},
           deployments: [{{provider: vx, model: text-embedding-005}}]}}
route_log: {{path: '{tmp_path / "routes.db"}', flush_interval: 50ms}}
""")
    sidecar = SidecarProcess(cfg, env=clean_env(tmp_path))
    try:
        await sidecar.start()
        async with openai.AsyncOpenAI(base_url=sidecar.data_url + "/v1", api_key="app-key", max_retries=0) as oai:
            answer = await oai.chat.completions.create(model="flash", messages=[{"role": "user", "content": "Hi"}])
            assert answer.choices[0].message.content == "Hallo."
            assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (6, 2)
            unary = vertex_server.seen[-1]
            assert unary.path == PREFIX + ":generateContent"
            assert unary.headers["authorization"] == "Bearer tok-1"
            assert "x-goog-api-key" not in unary.headers and "key" not in unary.query
            assert orjson.loads(unary.body)["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}]

            stream = await oai.chat.completions.create(model="flash", messages=[{"role": "user", "content": "Hi"}],
                                                       stream=True)
            chunks = [chunk async for chunk in stream]
            assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hallo!"
            streamed = vertex_server.seen[-1]
            assert (streamed.path, streamed.query) == (PREFIX + ":streamGenerateContent", "alt=sse")
            assert streamed.headers["authorization"] == "Bearer tok-1"

            claude = await oai.chat.completions.create(model="sonnet", max_tokens=50,
                                                       messages=[{"role": "user", "content": "Hi"}])
            assert claude.choices[0].message.content == "Bonjour."
            assert claude.usage.prompt_tokens == 13  # input 9 + 4 read from the cache
            sent = vertex_server.seen[-1]
            assert sent.path == CLAUDE_PREFIX + ":rawPredict" and sent.headers["authorization"] == "Bearer tok-1"
            assert orjson.loads(sent.body) == {"anthropic_version": "vertex-2023-10-16", "max_tokens": 50,
                                               "messages": [{"role": "user", "content": "Hi"}]}
            streamed_claude = await oai.chat.completions.create(
                model="sonnet", messages=[{"role": "user", "content": "Hi"}], stream=True)
            assert "".join([c.choices[0].delta.content or "" async for c in streamed_claude if c.choices]) == "Bonjour."
            assert vertex_server.seen[-1].path == CLAUDE_PREFIX + ":streamRawPredict"
            assert orjson.loads(vertex_server.seen[-1].body)["stream"] is True

            vectors = await oai.embeddings.create(model="embed", input=["first text", "second"], dimensions=2)
            assert [d.embedding for d in vectors.data] == [[0.0, 0.5], [1.0, 0.5]]
            assert vectors.usage.prompt_tokens == 5  # Vertex's own counts: 2 + 3
            embedded = vertex_server.seen[-1]
            assert embedded.path == EMBED_PATH and embedded.headers["authorization"] == "Bearer tok-1"
            assert orjson.loads(embedded.body) == {"instances": [{"content": "first text"}, {"content": "second"}],
                                                   "parameters": {"outputDimensionality": 2}}
        # Anthropic's own API in front: the app's Messages body goes to Vertex as written, bar `model`.
        async with anthropic.AsyncAnthropic(base_url=sidecar.data_url, api_key="app-key", max_retries=0) as ant:
            message = await ant.messages.create(
                model="sonnet", max_tokens=64,
                system=[{"type": "text", "text": "Long policy text.", "cache_control": {"type": "ephemeral"}}],
                thinking={"type": "enabled", "budget_tokens": 1024},
                messages=[{"role": "user", "content": "Hi"}])
            assert message.content[0].text == "Bonjour."
            assert message.usage.cache_read_input_tokens == 4
            assert message.id == "msg_vx"  # Vertex's own answer, passed through (bar `model`)
            assert message.model == "sonnet"
            async with ant.messages.stream(model="sonnet", max_tokens=64,
                                           messages=[{"role": "user", "content": "Hi"}]) as events:
                kinds = [event.type async for event in events]
                final = await events.get_final_message()
            assert final.content[0].text == "Bonjour." and final.id == "msg_vx"
            assert kinds[0] == "message_start" and "content_block_delta" in kinds
        sent = orjson.loads(vertex_server.seen[-2].body)
        assert "model" not in sent and sent["anthropic_version"] == "vertex-2023-10-16"
        assert sent["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
        assert len(token_server.grants) == 1  # one token, cached, for every request
        assert "tok-1" not in "\n".join(sidecar.lines)
    finally:
        await sidecar.kill()
