"""type: bedrock through a real `routecar serve`: the openai SDK in front, a local Converse
server behind that records each request, verifies its SigV4 signature for real (recomputed
with botocore from the request as received) and answers Converse JSON or real AWS
event-stream frames. Credentials come from the process's AWS_* environment (botocore's chain).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

import anthropic
import openai
import orjson
import pytest
from aiohttp import web

from tests.e2e.cloud_env import clean_env
from tests.helpers import read_rows
from tests.lifecycle.conftest import SidecarProcess
from tests.providers.eventstream_frames import CLAUDE_INVOKE_STREAM, CONVERSE_STREAM
from tests.providers.sigv4_check import check_sigv4

KEY_ID = "AKIDE2ETEST"
SECRET = "e2e/Secret+Key/ForSigV4Tests0123456789ab"
REGION = "eu-central-1"
MODEL = "eu.anthropic.claude-3-5-haiku-20241022-v1:0"
ENCODED = "eu.anthropic.claude-3-5-haiku-20241022-v1%3A0"

CONVERSE = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Bonjour."}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 11, "outputTokens": 2, "totalTokens": 13},
    "metrics": {"latencyMs": 80},
}

CLAUDE_MESSAGE = {"id": "msg_bdrk_0", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
                  "content": [{"type": "thinking", "thinking": "Short.", "signature": "sig-0"},
                              {"type": "text", "text": "Salut."}],
                  "stop_reason": "end_turn", "stop_sequence": None,
                  "usage": {"input_tokens": 20, "output_tokens": 4, "cache_creation_input_tokens": 12}}


@dataclass
class Seen:
    method: str
    url: str  # as received: the raw (still encoded) path
    headers: dict[str, str]
    body: bytes


async def event_stream(request: web.Request, frames: list[bytes]) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/vnd.amazon.eventstream"})
    await resp.prepare(request)
    for frame in frames:
        await resp.write(frame)
    await resp.write_eof()
    return resp


@dataclass
class ConverseServer:
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    over_quota: set[str] = field(default_factory=set)  # encoded model ids refused as Bedrock does

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            self.seen.append(Seen(request.method, self.url + request.raw_path,
                                  {k.lower(): v for k, v in request.headers.items()}, body))
            if any(f"/model/{model}/" in request.raw_path for model in self.over_quota):
                return web.json_response(
                    {"message": "Your request exceeded the service quota for your account."}, status=400,
                    headers={"X-Amzn-ErrorType": "ServiceQuotaExceededException:http://internal.amazon.com/coral/"})
            if request.raw_path.endswith("/invoke-with-response-stream"):  # Claude, Anthropic's events
                return await event_stream(request, CLAUDE_INVOKE_STREAM)
            if request.raw_path.endswith("/invoke") and "anthropic.claude" in request.raw_path:
                return web.json_response(CLAUDE_MESSAGE)
            if request.raw_path.endswith("/invoke"):  # Cohere embed: one vector per text
                texts = orjson.loads(body)["texts"]
                return web.json_response({"id": "e1", "embeddings": [[float(i), 0.5] for i in range(len(texts))],
                                          "response_type": "embeddings_floats", "texts": texts})
            if request.raw_path.endswith("/converse"):
                return web.json_response(CONVERSE)
            if request.raw_path.endswith("/converse-stream"):
                return await event_stream(request, CONVERSE_STREAM)
            return web.json_response({"message": "Unknown operation"}, status=404)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        return app


@pytest.fixture
async def converse_server() -> AsyncIterator[ConverseServer]:
    server = ConverseServer()
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield server
    await runner.cleanup()


def config(server: ConverseServer, db: Path) -> str:
    return f"""
server: {{listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0"}}
providers:
  br: {{type: bedrock, region: {REGION}, base_url: '{server.url}',
        timeouts: {{connect: 2s, first_token: 10s, idle: 10s, total: 30s}}}}
models:
  haiku: {{deployments: [{{provider: br, model: '{MODEL}'}}]}}
route_log: {{path: '{db}', flush_interval: 50ms}}
"""


async def test_bedrock_unary_and_stream_through_routecar_serve(converse_server: ConverseServer, tmp_path: Path) -> None:
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(config(converse_server, tmp_path / "routes.db"))
    sidecar = SidecarProcess(cfg, env=clean_env(tmp_path, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET))
    try:
        await sidecar.start()
        async with openai.AsyncOpenAI(base_url=sidecar.data_url + "/v1", api_key="app-key", max_retries=0) as oai:
            answer = await oai.chat.completions.create(
                model="haiku", max_tokens=40, temperature=0.1,
                messages=[{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Hello"}])
            assert answer.choices[0].message.content == "Bonjour."
            assert answer.choices[0].finish_reason == "stop"
            assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (11, 2)

            unary = converse_server.seen[-1]
            assert unary.url == f"{converse_server.url}/model/{ENCODED}/converse"
            assert orjson.loads(unary.body) == {
                "messages": [{"role": "user", "content": [{"text": "Hello"}]}],
                "system": [{"text": "Answer in French."}],
                "inferenceConfig": {"maxTokens": 40, "temperature": 0.1},
            }
            signed = check_sigv4("POST", unary.url, unary.headers, unary.body, KEY_ID, SECRET, REGION)
            assert {"host", "x-amz-date", "content-type"} <= set(signed)
            assert "app-key" not in repr(unary.headers)

            stream = await oai.chat.completions.create(
                model="haiku", messages=[{"role": "user", "content": "Hello"}], stream=True,
                stream_options={"include_usage": True})
            chunks = [chunk async for chunk in stream]
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            assert text == "Hello there"
            assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
            assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 16

            streamed = converse_server.seen[-1]
            assert streamed.url == f"{converse_server.url}/model/{ENCODED}/converse-stream"
            assert streamed.headers["accept"] == "application/vnd.amazon.eventstream"
            check_sigv4("POST", streamed.url, streamed.headers, streamed.body, KEY_ID, SECRET, REGION)
        assert SECRET not in "\n".join(sidecar.lines)
    finally:
        await sidecar.kill()


async def test_without_aws_credentials_attempts_fail_over_with_a_clear_class(converse_server: ConverseServer,
                                                                            tmp_path: Path) -> None:
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(config(converse_server, tmp_path / "routes.db"))
    sidecar = SidecarProcess(cfg, env=clean_env(tmp_path))
    try:
        await sidecar.start()
        async with openai.AsyncOpenAI(base_url=sidecar.data_url + "/v1", api_key="x", max_retries=0) as oai:
            with pytest.raises(openai.APIStatusError) as err:
                await oai.chat.completions.create(model="haiku", messages=[{"role": "user", "content": "Hello"}])
        assert err.value.status_code == 502
        assert "(no_credentials: " in str(err.value.body)
        assert converse_server.seen == []  # nothing unsigned ever left
    finally:
        await sidecar.kill()


async def test_a_quota_refusal_sent_as_400_fails_over_to_the_next_deployment(converse_server: ConverseServer,
                                                                           tmp_path: Path) -> None:
    other, other_encoded = "us.anthropic.claude-3-5-haiku-20241022-v1:0", "us.anthropic.claude-3-5-haiku-20241022-v1%3A0"
    converse_server.over_quota.add(ENCODED)
    db = tmp_path / "routes.db"
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(config(converse_server, db).replace(
        "models:\n", "models:\n  haiku-us: {deployments: [{provider: br, model: '" + other + "'}]}\n")
        + "routes:\n  chat: {strategy: ordered, candidates: [haiku, haiku-us]}\n")
    sidecar = SidecarProcess(cfg, env=clean_env(tmp_path, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET))
    try:
        await sidecar.start()
        async with openai.AsyncOpenAI(base_url=sidecar.data_url + "/v1", api_key="x", max_retries=0) as oai:
            answer = await oai.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Hello"}])
            assert answer.choices[0].message.content == "Bonjour."
            assert [s.url.split("/model/")[1] for s in converse_server.seen] == \
                [f"{ENCODED}/converse", f"{other_encoded}/converse"]
            # Every deployment over quota: the app is told it is rate limited, not that Bedrock broke.
            converse_server.over_quota.add(other_encoded)
            with pytest.raises(openai.RateLimitError) as err:
                await oai.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Hello"}])
            assert "HTTP 400 (http_429: ServiceQuotaExceededException)" in err.value.message
        sidecar.send(signal.SIGTERM)
        assert await sidecar.wait() == 0, sidecar.output()
        first = read_rows(str(db))[0]
        assert (first["outcome"], first["provider"], first["upstream_model"]) == ("ok", "br", other)
        refused = first["attempt_log"][0]
        assert (refused["status"], refused["error"], refused["detail"]) == \
            (400, "http_429", "ServiceQuotaExceededException")
    finally:
        await sidecar.kill()


async def test_embeddings_invoke_a_cohere_model_signed(converse_server: ConverseServer, tmp_path: Path) -> None:
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(config(converse_server, tmp_path / "routes.db").replace(
        "models:\n", "models:\n  embed: {capabilities: [embeddings], price: {input: 0.1, output: 0},\n"
        "          deployments: [{provider: br, model: cohere.embed-multilingual-v3}]}\n"))
    sidecar = SidecarProcess(cfg, env=clean_env(tmp_path, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET))
    try:
        await sidecar.start()
        async with openai.AsyncOpenAI(base_url=sidecar.data_url + "/v1", api_key="x", max_retries=0) as oai:
            out = await oai.embeddings.create(model="embed", input=["first", "second one"],
                                              extra_body={"input_type": "search_query"})
        assert [d.embedding for d in out.data] == [[0.0, 0.5], [1.0, 0.5]]
        assert out.usage.prompt_tokens == 5  # estimated: Cohere counts no tokens
        seen = converse_server.seen[-1]
        assert seen.url == f"{converse_server.url}/model/cohere.embed-multilingual-v3/invoke"
        assert orjson.loads(seen.body) == {"texts": ["first", "second one"], "input_type": "search_query"}
        check_sigv4("POST", seen.url, seen.headers, seen.body, KEY_ID, SECRET, REGION)
    finally:
        await sidecar.kill()


async def test_an_anthropic_app_reaches_claude_on_bedrock_through_invoke_model(converse_server: ConverseServer,
                                                                              tmp_path: Path) -> None:
    """/v1/messages to a Claude model on Bedrock: the app's body (cache_control, thinking) through
    InvokeModel, and Anthropic's answer and events (thinking signatures) back as they came."""
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(config(converse_server, tmp_path / "routes.db"))
    sidecar = SidecarProcess(cfg, env=clean_env(tmp_path, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET))
    try:
        await sidecar.start()
        async with anthropic.AsyncAnthropic(base_url=sidecar.data_url, api_key="app-key", max_retries=0) as ant:
            message = await ant.messages.create(
                model="haiku", max_tokens=256, thinking={"type": "enabled", "budget_tokens": 128},
                system=[{"type": "text", "text": "Policy.", "cache_control": {"type": "ephemeral"}}],
                messages=[{"role": "user", "content": "Hello"}],
                extra_headers={"anthropic-beta": "context-1m-2025-08-07, interleaved-thinking-2025-05-14"})
            assert [b.type for b in message.content] == ["thinking", "text"]
            assert message.content[0].signature == "sig-0" and message.content[1].text == "Salut."
            assert message.usage.cache_creation_input_tokens == 12 and message.id == "msg_bdrk_0"
            unary = converse_server.seen[-1]
            assert unary.url == f"{converse_server.url}/model/{ENCODED}/invoke"
            sent = orjson.loads(unary.body)
            assert "model" not in sent and "stream" not in sent and sent["anthropic_version"] == "bedrock-2023-05-31"
            assert sent["thinking"] == {"type": "enabled", "budget_tokens": 128}
            assert sent["system"][0]["cache_control"] == {"type": "ephemeral"}
            assert sent["anthropic_beta"] == ["context-1m-2025-08-07", "interleaved-thinking-2025-05-14"]
            check_sigv4("POST", unary.url, unary.headers, unary.body, KEY_ID, SECRET, REGION)

            async with ant.messages.stream(model="haiku", max_tokens=256,
                                           thinking={"type": "enabled", "budget_tokens": 128},
                                           messages=[{"role": "user", "content": "Hello"}]) as stream:
                final = await stream.get_final_message()
            assert [b.type for b in final.content] == ["thinking", "text"]
            assert final.content[0].signature == "sig-bdrk" and final.content[1].text == "Hi!"
            streamed = converse_server.seen[-1]
            assert streamed.url == f"{converse_server.url}/model/{ENCODED}/invoke-with-response-stream"
            assert streamed.headers["accept"] == "application/vnd.amazon.eventstream"

        # The OpenAI entry to the same model still goes through Converse.
        async with openai.AsyncOpenAI(base_url=sidecar.data_url + "/v1", api_key="x", max_retries=0) as oai:
            answer = await oai.chat.completions.create(model="haiku", messages=[{"role": "user", "content": "Hi"}])
        assert answer.choices[0].message.content == "Bonjour."
        assert converse_server.seen[-1].url.endswith("/converse")
        sidecar.send(signal.SIGTERM)
        assert await sidecar.wait() == 0, sidecar.output()
        rows = read_rows(str(tmp_path / "routes.db"))
        assert [r["outcome"] for r in rows] == ["ok", "ok", "ok"]
        assert (rows[1]["prompt_tokens"], rows[1]["completion_tokens"]) == (16, 5)  # from Anthropic's events
    finally:
        await sidecar.kill()
