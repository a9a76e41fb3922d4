"""The real openai SDK → sidecar → a translating provider (Anthropic, Gemini) on a fake upstream.

Each direction runs a whole tool conversation (a tool definition → a tool call back → the tool
result → a text answer), once whole and once streamed, and checks that the usage the app sees,
the route-log row and the cost all agree with what the upstream itself reported.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import aiohttp
import openai
import pytest

from tests.conftest import one_model_yaml
from tests.helpers import route_rows

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
ASK_TOOL = [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Use the tool to get the weather in Paris"}]
PRICE_IN, PRICE_OUT = 1.0, 2.0  # one_model_yaml's price for model `m`, per million tokens


def client(sc: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=sc.data_url + "/v1", api_key="app-key", max_retries=0)


async def start(fake_factory: Any, sidecar_factory: Any, ptype: str, **fake_kw: Any) -> tuple[Any, Any]:
    fp = await fake_factory("up", require_key=True, **fake_kw)
    sc = await sidecar_factory(one_model_yaml(fp.url, provider_type=ptype))
    return fp, sc


def cost(prompt: int, completion: int) -> float:
    return (prompt * PRICE_IN + completion * PRICE_OUT) / 1e6


def tool_result_turn(call_id: str, name: str, arguments: str) -> list[dict[str, Any]]:
    assistant = {"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]}
    # The last user message still says "tool": only a correctly translated tool result makes
    # the fake answer in text instead of calling the tool again.
    return [*ASK_TOOL, assistant, {"role": "tool", "tool_call_id": call_id, "content": '{"temp_c": 21}'}]


async def direct_usage(fp: Any, ptype: str, text: str) -> tuple[int, int]:
    """(prompt, completion) tokens the fake reports for `text` when asked in its own dialect."""
    async with aiohttp.ClientSession() as http:
        if ptype == "anthropic":
            body = {"model": "up-0", "max_tokens": 4096, "messages": [{"role": "user", "content": text}]}
            async with http.post(fp.url + "/v1/messages", json=body, headers={"x-api-key": "k"}) as resp:
                usage = (await resp.json())["usage"]
            return usage["input_tokens"], usage["output_tokens"]
        body = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
        async with http.post(fp.url + "/v1beta/models/up-0:generateContent", json=body,
                             headers={"x-goog-api-key": "k"}) as resp:
            meta = (await resp.json())["usageMetadata"]
        return meta["promptTokenCount"], meta["candidatesTokenCount"]


@pytest.mark.parametrize("ptype", ["anthropic", "gemini"])
async def test_tool_conversation_non_streaming(fake_factory, sidecar_factory, ptype):
    fp, sc = await start(fake_factory, sidecar_factory, ptype)
    async with client(sc) as c:
        raw = await c.chat.completions.with_raw_response.create(model="m", messages=ASK_TOOL, tools=TOOLS)
        first = raw.parse()
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        call = choice.message.tool_calls[0]
        assert call.type == "function" and call.function.name == "get_weather" and call.id
        assert isinstance(json.loads(call.function.arguments)["city"], str)
        assert raw.headers["x-routecar-provider"] == "p0" and raw.headers["x-routecar-model"] == "m"
        assert float(raw.headers["x-routecar-cost-usd"]) == pytest.approx(
            cost(first.usage.prompt_tokens, first.usage.completion_tokens), rel=1e-6)

        second = await c.chat.completions.create(
            model="m", messages=tool_result_turn(call.id, call.function.name, call.function.arguments), tools=TOOLS)
        assert second.choices[0].finish_reason == "stop"
        assert second.choices[0].message.content.startswith("Fake answer from up:")
        assert not second.choices[0].message.tool_calls

        plain = await c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hello there"}])
    # Usage survives the translation exactly: the same as the upstream reports when asked directly.
    assert (plain.usage.prompt_tokens, plain.usage.completion_tokens) == await direct_usage(fp, ptype, "hello there")
    assert plain.usage.total_tokens == plain.usage.prompt_tokens + plain.usage.completion_tokens

    rows = await route_rows(sc, 3)
    for row, answer in zip(rows, (first, second, plain)):
        assert row["status"] == 200 and row["outcome"] == "ok" and row["endpoint"] == "chat" and row["stream"] == 0
        assert (row["provider"], row["upstream_model"], row["chosen_model"]) == ("p0", "up-0", "m")
        assert (row["prompt_tokens"], row["completion_tokens"]) == (answer.usage.prompt_tokens,
                                                                    answer.usage.completion_tokens)
        assert row["cost_usd"] == pytest.approx(cost(row["prompt_tokens"], row["completion_tokens"]), rel=1e-6)


async def collect(stream: Any) -> dict[str, Any]:
    """Fold an SDK chunk stream into text, tool calls (by index), finish reason and usage."""
    out: dict[str, Any] = {"text": "", "calls": {}, "finish": None, "usage": None, "chunks": 0}
    async for ch in stream:
        out["chunks"] += 1
        if ch.usage is not None:
            out["usage"] = ch.usage
        for choice in ch.choices:
            out["text"] += choice.delta.content or ""
            for tc in choice.delta.tool_calls or ():
                slot = out["calls"].setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
                slot["id"] = tc.id or slot["id"]
                if tc.function is not None:
                    slot["name"] = tc.function.name or slot["name"]
                    slot["arguments"] += tc.function.arguments or ""
            out["finish"] = choice.finish_reason or out["finish"]
    return out


@pytest.mark.parametrize("ptype", ["anthropic", "gemini"])
async def test_tool_conversation_streaming(fake_factory, sidecar_factory, ptype):
    fp, sc = await start(fake_factory, sidecar_factory, ptype, chunks=5)
    async with client(sc) as c:
        first = await collect(await c.chat.completions.create(
            model="m", messages=ASK_TOOL, tools=TOOLS, stream=True, stream_options={"include_usage": True}))
        assert first["finish"] == "tool_calls" and list(first["calls"]) == [0]
        call = first["calls"][0]
        assert call["id"] and call["name"] == "get_weather"
        assert isinstance(json.loads(call["arguments"])["city"], str)
        assert first["usage"] is not None and first["usage"].prompt_tokens > 0 and first["usage"].completion_tokens > 0

        second = await collect(await c.chat.completions.create(
            model="m", messages=tool_result_turn(call["id"], call["name"], call["arguments"]), tools=TOOLS,
            stream=True, stream_options={"include_usage": True}))
        assert second["finish"] == "stop" and not second["calls"]
        assert second["text"].startswith("Fake answer from up:")

        # Without include_usage the app gets no usage chunk, yet routecar still prices the answer.
        unasked = await collect(await c.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hello there"}], stream=True))
        assert unasked["usage"] is None and unasked["finish"] == "stop" and unasked["text"]
        whole = await c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hello there"}])
    assert unasked["text"] == whole.choices[0].message.content, "streamed and whole answers must agree"

    rows = await route_rows(sc, 4)
    for row, usage in zip(rows, (first["usage"], second["usage"])):
        assert row["stream"] == 1 and row["outcome"] == "ok" and row["ttft_ms"] is not None
        assert (row["provider"], row["upstream_model"]) == ("p0", "up-0")
        assert (row["prompt_tokens"], row["completion_tokens"]) == (usage.prompt_tokens, usage.completion_tokens)
        assert row["cost_usd"] == pytest.approx(cost(usage.prompt_tokens, usage.completion_tokens), rel=1e-6)
    assert (rows[2]["prompt_tokens"], rows[2]["completion_tokens"]) == (whole.usage.prompt_tokens,
                                                                        whole.usage.completion_tokens)
    assert rows[2]["cost_usd"] == pytest.approx(rows[3]["cost_usd"], rel=1e-6)


async def test_embeddings_through_gemini(fake_factory, sidecar_factory):
    fp, sc = await start(fake_factory, sidecar_factory, "gemini", embedding_dim=16)
    texts = ["refund my order", "the app crashes on start"]
    async with client(sc) as c:
        raw = await c.embeddings.with_raw_response.create(model="embed", input=texts, encoding_format="float")
        emb = raw.parse()
        single = await c.embeddings.create(model="embed", input="refund my order", dimensions=8)
        packed = await c.embeddings.create(model="embed", input="refund my order", encoding_format="base64")
    assert [d.index for d in emb.data] == [0, 1] and all(len(d.embedding) == 16 for d in emb.data)
    assert emb.data[0].embedding != emb.data[1].embedding
    assert len(single.data) == 1 and len(single.data[0].embedding) == 8
    # Asked for explicitly, base64 is what the SDK hands back undecoded: little-endian float32.
    raw_vector = base64.b64decode(packed.data[0].embedding)
    assert list(struct.unpack("<16f", raw_vector)) == pytest.approx(emb.data[0].embedding, abs=1e-6)
    # Gemini reports no tokens for embeddings; routecar estimates them (about four characters each).
    assert emb.usage.prompt_tokens == sum(-(-len(t) // 4) for t in texts) == emb.usage.total_tokens
    assert raw.headers["x-routecar-provider"] == "p0" and raw.headers["x-routecar-model"] == "embed"
    assert fp.stats()["by_path"] == {"/v1beta/models/emb-up:batchEmbedContents": 3}
    rows = await route_rows(sc, 3)
    assert rows[0]["endpoint"] == "embeddings" and rows[0]["upstream_model"] == "emb-up"
    assert rows[0]["prompt_tokens"] == emb.usage.prompt_tokens
    assert rows[0]["cost_usd"] == pytest.approx(emb.usage.prompt_tokens * 0.02 / 1e6, rel=1e-6)
