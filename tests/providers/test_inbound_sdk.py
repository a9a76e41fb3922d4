"""The real `anthropic` SDK reads what the Anthropic entry point translation produces.

A tiny aiohttp server on 127.0.0.1 plays routecar's `/v1/messages`: it converts the SDK's
request with `messages_to_canonical` and answers with `canonical_to_message` or with
`MessagesStreamEncoder` bytes, fed from canned canonical chunks or from the Gemini decoder.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable

import anthropic
import orjson
import pytest
from aiohttp import web

from routecar.providers.anthropic_inbound import (
    MessagesStreamEncoder,
    canonical_to_message,
    error_body,
    error_type_for_status,
    messages_to_canonical,
)
from routecar.providers.base import Chunk, SSEEvent
from routecar.providers.gemini import GeminiAdapter

TOOL = {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-9x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}


OPENAI_CHUNKS = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Checking "}),
    chunk({"content": "the weather."}),
    chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\": "}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
    chunk({}, "tool_calls"),
    {"id": "chatcmpl-9x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", "choices": [],
     "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150, "prompt_tokens_details": {"cached_tokens": 100}}},
]

GEMINI_EVENTS = [
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Bonjour"}]}, "index": 0}], "responseId": "g1", "modelVersion": "gemini-2.0-flash"},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": " Paris!"}]}, "finishReason": "STOP", "index": 0}],
     "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 3, "totalTokenCount": 12}},
]


def gemini_chunks() -> list[dict[str, Any]]:
    decoder = GeminiAdapter(clock=lambda: 1.0).stream_decoder("gemini-2.0-flash")
    chunks = [c.data for ev in GEMINI_EVENTS for c in decoder.feed(SSEEvent(orjson.dumps(ev)))]
    assert decoder.done
    return chunks


Behaviour = Callable[[web.Request, dict[str, Any]], Any]


@pytest.fixture
async def serve(aiohttp_server: Any) -> AsyncIterator[Callable[[Behaviour], Any]]:
    clients: list[anthropic.AsyncAnthropic] = []

    async def start(behaviour: Behaviour) -> anthropic.AsyncAnthropic:
        async def handler(request: web.Request) -> web.StreamResponse:
            body = await request.json()
            return await behaviour(request, body)

        app = web.Application()
        app.router.add_post("/v1/messages", handler)
        server = await aiohttp_server(app, host="127.0.0.1")
        client = anthropic.AsyncAnthropic(base_url=str(server.make_url("")).rstrip("/"), api_key="test-key", max_retries=0)
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


async def stream_reply(request: web.Request, canonical_chunks: list[dict[str, Any]], model: str, error: str | None = None) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await resp.prepare(request)
    encoder = MessagesStreamEncoder(model)
    for data in canonical_chunks:
        # One write per chunk, as the entry point streams them.
        await resp.write(encoder.encode(Chunk(data)))
    await resp.write(encoder.error(error, "overloaded_error") if error else encoder.finish())
    await resp.write_eof()
    return resp


async def test_sdk_stream_builds_the_final_message(serve: Any) -> None:
    seen: list[dict[str, Any]] = []

    async def behaviour(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        seen.append(messages_to_canonical(body))
        return await stream_reply(request, OPENAI_CHUNKS, body["model"])

    client = await serve(behaviour)
    texts: list[str] = []
    async with client.messages.stream(
        model="fast", max_tokens=100, tools=[TOOL], messages=[{"role": "user", "content": "Weather in Paris?"}]
    ) as stream:
        async for text in stream.text_stream:
            texts.append(text)
        message = await stream.get_final_message()
    assert "".join(texts) == "Checking the weather."
    assert message.model == "fast"
    assert message.id == "msg_9x"
    assert message.stop_reason == "tool_use"
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[1].input == {"city": "Paris"} and message.content[1].id == "call_1"
    assert (message.usage.input_tokens, message.usage.output_tokens, message.usage.cache_read_input_tokens) == (20, 30, 100)
    assert seen[0]["stream"] is True and seen[0]["stream_options"] == {"include_usage": True}
    assert seen[0]["tools"][0]["function"]["name"] == "get_weather"


async def test_sdk_stream_from_a_gemini_upstream(serve: Any) -> None:
    async def behaviour(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return await stream_reply(request, gemini_chunks(), body["model"])

    client = await serve(behaviour)
    async with client.messages.stream(model="cheap", max_tokens=50, messages=[{"role": "user", "content": "Hi"}]) as stream:
        message = await stream.get_final_message()
    assert message.content[0].text == "Bonjour Paris!"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (9, 3)


async def test_sdk_raises_on_a_broken_stream(serve: Any) -> None:
    async def behaviour(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        return await stream_reply(request, OPENAI_CHUNKS[:3], body["model"], error="upstream stream broke")

    client = await serve(behaviour)
    with pytest.raises(anthropic.APIError) as err:
        async with client.messages.stream(model="fast", max_tokens=10, messages=[{"role": "user", "content": "Hi"}]) as stream:
            await stream.get_final_message()
    assert "upstream stream broke" in str(err.value)


async def test_sdk_parses_a_whole_message(serve: Any) -> None:
    response = {
        "id": "chatcmpl-msg_01abc", "object": "chat.completion", "created": 1, "model": "claude-3-5-haiku",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    }

    async def behaviour(request: web.Request, body: dict[str, Any]) -> web.Response:
        messages_to_canonical(body)
        return web.json_response(canonical_to_message(response, body["model"]))

    client = await serve(behaviour)
    message = await client.messages.create(model="claude-haiku", max_tokens=2, messages=[{"role": "user", "content": "Hi"}])
    assert isinstance(message, anthropic.types.Message)
    assert message.id == "msg_01abc" and message.content[0].text == "Hello!"
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 2


@pytest.mark.parametrize("status,exc", [(429, anthropic.RateLimitError), (404, anthropic.NotFoundError), (529, anthropic.InternalServerError)])
async def test_sdk_reads_error_bodies(serve: Any, status: int, exc: type[Exception]) -> None:
    async def behaviour(request: web.Request, body: dict[str, Any]) -> web.Response:
        return web.json_response(error_body("no capacity right now", error_type_for_status(status)), status=status)

    client = await serve(behaviour)
    with pytest.raises(exc) as err:
        await client.messages.create(model="m", max_tokens=2, messages=[{"role": "user", "content": "Hi"}])
    assert err.value.body["error"]["type"] == error_type_for_status(status)  # type: ignore[attr-defined]
    assert "no capacity right now" in str(err.value)
