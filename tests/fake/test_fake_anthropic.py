"""The Anthropic Messages dialect, driven by the real anthropic SDK."""

from __future__ import annotations

import json

import aiohttp
import anthropic
import pytest

from routecar.fake.server import FakeProvider

USER = [{"role": "user", "content": "Summarize the outage report"}]
TOOLS = [{"name": "lookup", "description": "find a doc",
          "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}]


def _events(text: str) -> list[tuple[str, dict]]:
    out = []
    for frame in text.split("\n\n"):
        if not frame.strip():
            continue
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        out.append((lines["event"], json.loads(lines["data"])))
    return out


async def test_message_non_streaming(claude: anthropic.AsyncAnthropic) -> None:
    msg = await claude.messages.create(model="claude-x", max_tokens=100, messages=USER,
                                       system="be brief")
    assert msg.id.startswith("msg_") and msg.model == "claude-x" and msg.type == "message"
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    text = msg.content[0].text
    assert text.startswith("Fake answer from a: summarize the outage")
    assert msg.usage.output_tokens == len(text.split())
    assert msg.usage.input_tokens == (len("be brief") + len(USER[0]["content"]) + 3) // 4


async def test_stream_event_sequence(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    body = {"model": "c", "max_tokens": 100, "messages": USER, "stream": True}
    async with http.post(fake.url + "/v1/messages", json=body) as resp:
        assert resp.status == 200
        events = _events(await resp.text())
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[3:-3] == ["content_block_delta"] * 8
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert all(name == data["type"] for name, data in events)
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
    assert events[-2][1]["usage"]["output_tokens"] > 0


async def test_stream_with_sdk_matches_whole_answer(claude: anthropic.AsyncAnthropic) -> None:
    async with claude.messages.stream(model="c", max_tokens=100, messages=USER) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    whole = await claude.messages.create(model="c", max_tokens=100, messages=USER)
    assert text == whole.content[0].text == final.content[0].text
    assert final.usage.output_tokens == whole.usage.output_tokens


async def test_max_tokens_and_stop_sequence(claude: anthropic.AsyncAnthropic) -> None:
    short = await claude.messages.create(model="c", max_tokens=2, messages=USER)
    assert short.stop_reason == "max_tokens" and short.content[0].text == "Fake answer"
    stopped = await claude.messages.create(model="c", max_tokens=100, messages=USER, stop_sequences=["outage"])
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "outage"
    assert "outage" not in stopped.content[0].text


async def test_tool_use(claude: anthropic.AsyncAnthropic) -> None:
    msg = await claude.messages.create(model="c", max_tokens=100, tools=TOOLS,
                                       messages=[{"role": "user", "content": "use a tool please"}])
    assert msg.stop_reason == "tool_use"
    block = msg.content[0]
    assert block.type == "tool_use" and block.name == "lookup" and block.id.startswith("toolu_")
    assert isinstance(block.input["q"], str)
    forced = await claude.messages.create(model="c", max_tokens=100, tools=TOOLS, messages=USER,
                                          tool_choice={"type": "tool", "name": "lookup"})
    assert forced.stop_reason == "tool_use"
    follow_up = [
        {"role": "user", "content": "use a tool please"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": block.id, "name": "lookup", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "found"}]},
    ]
    answer = await claude.messages.create(model="c", max_tokens=100, tools=TOOLS, messages=follow_up)
    assert answer.stop_reason == "end_turn"


async def test_tool_use_streams_input_json(claude: anthropic.AsyncAnthropic, fake: FakeProvider,
                                           http: aiohttp.ClientSession) -> None:
    async with claude.messages.stream(model="c", max_tokens=100, tools=TOOLS, messages=USER,
                                      tool_choice={"type": "any"}) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use" and final.content[0].input["q"]
    body = {"model": "c", "max_tokens": 100, "messages": USER, "stream": True, "tools": TOOLS,
            "tool_choice": {"type": "any"}}
    async with http.post(fake.url + "/v1/messages", json=body) as resp:
        events = _events(await resp.text())
    start = next(d for n, d in events if n == "content_block_start")
    assert start["content_block"]["type"] == "tool_use" and start["content_block"]["input"] == {}
    partial = [d["delta"]["partial_json"] for n, d in events if n == "content_block_delta"]
    assert all(d["delta"]["type"] == "input_json_delta" for n, d in events if n == "content_block_delta")
    assert json.loads("".join(partial)) == final.content[0].input


async def test_validation_errors_in_anthropic_shape(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    async with http.post(fake.url + "/v1/messages", json={"model": "c", "messages": USER}) as resp:
        assert resp.status == 400
        body = await resp.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]


async def test_ratelimit_headers_always_present(claude: anthropic.AsyncAnthropic) -> None:
    raw = await claude.messages.with_raw_response.create(model="c", max_tokens=10, messages=USER)
    headers = raw.headers
    assert int(headers["anthropic-ratelimit-requests-remaining"]) > 0
    assert int(headers["anthropic-ratelimit-tokens-remaining"]) > 0
    assert headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    assert "T" in headers["anthropic-ratelimit-tokens-reset"]


async def test_overloaded_and_rate_limited(claude: anthropic.AsyncAnthropic, fake: FakeProvider) -> None:
    fake.set_faults({"status": 529, "count": 1})
    with pytest.raises(anthropic.InternalServerError) as err:
        await claude.messages.create(model="c", max_tokens=10, messages=USER)
    assert err.value.status_code == 529
    assert err.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    fake.set_faults({"status": 429, "retry_after": 3, "count": 1})
    with pytest.raises(anthropic.RateLimitError) as limited:
        await claude.messages.create(model="c", max_tokens=10, messages=USER)
    headers = limited.value.response.headers
    assert headers["retry-after"] == "3"
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    ok = await claude.messages.create(model="c", max_tokens=10, messages=USER)
    assert ok.stop_reason in ("end_turn", "max_tokens")


async def test_context_length_error(claude: anthropic.AsyncAnthropic, fake: FakeProvider) -> None:
    fake.set_faults({"context_length_error": True})
    with pytest.raises(anthropic.BadRequestError) as err:
        await claude.messages.create(model="c", max_tokens=10, messages=USER)
    assert "prompt is too long" in err.value.body["error"]["message"]


async def test_require_key() -> None:
    async with FakeProvider(require_key=True) as fp, aiohttp.ClientSession() as http:
        body = {"model": "c", "max_tokens": 10, "messages": USER}
        async with http.post(fp.url + "/v1/messages", json=body) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["type"] == "authentication_error"
        async with http.post(fp.url + "/v1/messages", json=body, headers={"x-api-key": "k"}) as resp:
            assert resp.status == 200


async def test_count_tokens(claude: anthropic.AsyncAnthropic) -> None:
    counted = await claude.messages.count_tokens(model="c", messages=USER)
    assert counted.input_tokens == (len(USER[0]["content"]) + 3) // 4


async def test_stream_faults(claude: anthropic.AsyncAnthropic, fake: FakeProvider,
                             http: aiohttp.ClientSession) -> None:
    body = {"model": "c", "max_tokens": 100, "messages": USER, "stream": True}
    fake.set_faults({"empty_preamble_then_fail": True})
    async with http.post(fake.url + "/v1/messages", json=body) as resp:
        events = _events(await resp.text())
    assert [n for n, _ in events] == ["message_start", "content_block_start", "ping", "error"]
    assert events[-1][1]["error"]["type"] == "overloaded_error"
    with pytest.raises(anthropic.APIStatusError):
        async with claude.messages.stream(model="c", max_tokens=100, messages=USER) as stream:
            await stream.get_final_message()
    fake.set_faults({"disconnect_after_chunks": 2})
    received = b""
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(fake.url + "/v1/messages", json=body) as resp:
            async for piece in resp.content.iter_any():
                received += piece
    names = [n for n, _ in _events(received.decode())]
    assert names == ["message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta"]
