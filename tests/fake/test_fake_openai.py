"""The OpenAI dialect, driven by the real openai SDK."""

from __future__ import annotations

import json

import aiohttp
import openai
import pytest

from routecar.fake.embed import embed_text
from routecar.fake.server import FakeProvider

USER = [{"role": "user", "content": "Tell me about routing sidecars"}]
WEATHER = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
                                                        "unit": {"enum": ["c", "f"]}},
                       "required": ["city"]},
    },
}]


async def test_chat_non_streaming_shape(oai: openai.AsyncOpenAI, fake: FakeProvider) -> None:
    resp = await oai.chat.completions.create(model="gpt-x", messages=USER)
    assert resp.model == "gpt-x"
    assert resp.id.startswith("chatcmpl-")
    assert resp.created > 0
    choice = resp.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.content.startswith("Fake answer from a: tell me about")
    words = choice.message.content.split()
    assert resp.usage.completion_tokens == len(words)
    assert resp.usage.prompt_tokens == (len(USER[0]["content"]) + 3) // 4
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    assert fake.stats()["by_path"] == {"/v1/chat/completions": 1}


async def test_chat_stream_sequence_with_usage(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(model="gpt-x", messages=USER, stream=True,
                                               stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    content = [c.choices[0].delta.content for c in chunks[1:-2]]
    assert len(content) == 8  # the default chunk count
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == len("".join(content).split())
    whole = await oai.chat.completions.create(model="gpt-x", messages=USER)
    assert "".join(content) == whole.choices[0].message.content


async def test_raw_stream_ends_with_done(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    body = {"model": "m", "messages": USER, "stream": True}
    async with http.post(fake.openai_base + "/chat/completions", json=body) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        text = await resp.text()
    frames = [f for f in text.split("\n\n") if f]
    assert frames[-1] == "data: [DONE]"
    assert all(f.startswith("data: ") for f in frames)
    assert '"usage"' not in text  # only with stream_options.include_usage


async def test_configurable_chunk_count() -> None:
    async with FakeProvider(name="b", chunks=3) as fp:
        client = openai.AsyncOpenAI(base_url=fp.openai_base, api_key="x", max_retries=0)
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        pieces = [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content]
        await client.close()
    assert len(pieces) == 3
    assert "".join(pieces).startswith("Fake answer from b:")


async def test_tool_call_when_asked(oai: openai.AsyncOpenAI) -> None:
    msgs = [{"role": "user", "content": "use a tool to check the weather in Paris"}]
    resp = await oai.chat.completions.create(model="m", messages=msgs, tools=WEATHER)
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    assert set(args) == {"city", "days", "unit"} and args["unit"] == "c" and isinstance(args["days"], int)


async def test_tool_choice_forces_and_none_suppresses(oai: openai.AsyncOpenAI) -> None:
    forced = await oai.chat.completions.create(
        model="m", messages=USER, tools=WEATHER,
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert forced.choices[0].finish_reason == "tool_calls"
    required = await oai.chat.completions.create(model="m", messages=USER, tools=WEATHER, tool_choice="required")
    assert required.choices[0].message.tool_calls[0].function.name == "get_weather"
    plain = await oai.chat.completions.create(model="m", messages=USER, tools=WEATHER)
    assert plain.choices[0].finish_reason == "stop"
    none = await oai.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "use the tool"}], tools=WEATHER, tool_choice="none")
    assert none.choices[0].message.tool_calls is None


async def test_tool_result_gets_text_answer(oai: openai.AsyncOpenAI) -> None:
    msgs = [
        {"role": "user", "content": "use a tool"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    resp = await oai.chat.completions.create(model="m", messages=msgs, tools=WEATHER)
    assert resp.choices[0].finish_reason == "stop"
    assert resp.choices[0].message.content


async def test_tool_call_streams_as_deltas(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(model="m", messages=USER, tools=WEATHER,
                                               tool_choice="required", stream=True)
    chunks = [c async for c in stream]
    deltas = [c.choices[0].delta.tool_calls for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    first = deltas[0][0]
    assert first.id.startswith("call_") and first.function.name == "get_weather"
    assert first.function.arguments == ""
    rest = [d[0] for d in deltas[1:]]
    assert len(rest) > 1 and all(d.id is None for d in rest)
    json.loads("".join(d.function.arguments for d in rest))
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_json_modes(oai: openai.AsyncOpenAI) -> None:
    obj = await oai.chat.completions.create(model="m", messages=USER, response_format={"type": "json_object"})
    assert "answer" in json.loads(obj.choices[0].message.content)
    schema = {"type": "object", "properties": {"title": {"type": "string"}, "score": {"type": "number"},
                                               "tags": {"type": "array", "items": {"type": "string"}}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "r", "schema": schema, "strict": True}}
    typed = await oai.chat.completions.create(model="m", messages=USER, response_format=fmt)
    value = json.loads(typed.choices[0].message.content)
    assert isinstance(value["title"], str) and isinstance(value["score"], float) and isinstance(value["tags"], list)


async def test_max_tokens_truncates_with_length(oai: openai.AsyncOpenAI) -> None:
    resp = await oai.chat.completions.create(model="m", messages=USER, max_tokens=3)
    assert resp.choices[0].finish_reason == "length"
    assert resp.choices[0].message.content == "Fake answer from"
    assert resp.usage.completion_tokens == 3
    newer = await oai.chat.completions.create(model="m", messages=USER, max_completion_tokens=5)
    assert newer.choices[0].finish_reason == "length"
    cut_json = await oai.chat.completions.create(model="m", messages=USER, max_tokens=2,
                                                 response_format={"type": "json_object"})
    assert cut_json.choices[0].finish_reason == "length"
    with pytest.raises(ValueError):
        json.loads(cut_json.choices[0].message.content)


async def test_stop_sequence(oai: openai.AsyncOpenAI) -> None:
    resp = await oai.chat.completions.create(model="m", messages=USER, stop=["from"])
    assert resp.choices[0].message.content == "Fake answer"
    assert resp.choices[0].finish_reason == "stop"


async def test_embeddings_float_and_base64(oai: openai.AsyncOpenAI) -> None:
    # The SDK asks for base64 by default and decodes it; the values must survive the trip.
    b64 = await oai.embeddings.create(model="emb", input=["refund my order", "hello"])
    assert [d.index for d in b64.data] == [0, 1]
    expected = embed_text("refund my order")
    assert b64.data[0].embedding == pytest.approx(expected, abs=1e-6)
    floats = await oai.embeddings.create(model="emb", input="refund my order", encoding_format="float",
                                         dimensions=16)
    assert floats.data[0].embedding == pytest.approx(embed_text("refund my order", 16))
    assert floats.usage.prompt_tokens == floats.usage.total_tokens > 0
    assert floats.model == "emb"


async def test_models_list(oai: openai.AsyncOpenAI) -> None:
    await oai.chat.completions.create(model="custom-model", messages=USER)
    ids = [m.id async for m in oai.models.list()]
    assert "custom-model" in ids and "gpt-4o-mini" in ids


async def test_bad_requests_are_openai_errors(oai: openai.AsyncOpenAI, fake: FakeProvider,
                                              http: aiohttp.ClientSession) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await oai.chat.completions.create(model="m", messages=[])
    assert err.value.body["type"] == "invalid_request_error"
    async with http.post(fake.openai_base + "/chat/completions", data=b"{nope") as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["type"] == "invalid_request_error"


async def test_require_key() -> None:
    async with FakeProvider(require_key=True) as fp, aiohttp.ClientSession() as http:
        body = {"model": "m", "messages": USER}
        async with http.post(fp.openai_base + "/chat/completions", json=body) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "invalid_api_key"
        client = openai.AsyncOpenAI(base_url=fp.openai_base, api_key="any-key", max_retries=0)
        ok = await client.chat.completions.create(model="m", messages=USER)
        await client.close()
    assert ok.choices[0].message.content
