"""The real anthropic SDK → sidecar `/v1/messages` → an OpenAI or an Anthropic provider (fakes).

Each direction runs a whole tool conversation (tool definition → `tool_use` back → `tool_result`
→ text), with `messages.create` and with `messages.stream(...).get_final_message()`, and checks
that usage, the route-log row and the cost agree with what the upstream reported.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import anthropic
import pytest

from tests.conftest import one_model_yaml
from tests.helpers import route_rows

TOOLS = [{"name": "get_weather", "description": "Current weather in a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
ASK_TOOL = [{"role": "user", "content": "Use the tool to get the weather in Paris"}]
PRICE_IN, PRICE_OUT = 1.0, 2.0  # one_model_yaml's price for model `m`, per million tokens


def client(sc: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=sc.data_url, api_key="x", max_retries=0)


async def start(fake_factory: Any, sidecar_factory: Any, ptype: str, **fake_kw: Any) -> tuple[Any, Any]:
    fp = await fake_factory("up", require_key=True, **fake_kw)
    sc = await sidecar_factory(one_model_yaml(fp.openai_base if ptype == "openai" else fp.url, provider_type=ptype))
    return fp, sc


def cost(prompt: int, completion: int) -> float:
    return (prompt * PRICE_IN + completion * PRICE_OUT) / 1e6


def tool_result_turn(block: Any) -> list[dict[str, Any]]:
    # The last user text still says "tool": only a correctly translated tool_result makes the
    # fake answer in text instead of calling the tool again.
    return [*ASK_TOOL, {"role": "assistant", "content": [block.model_dump(include={"type", "id", "name", "input"})]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "21 C, sunny"}]}]


async def direct_usage(fp: Any, ptype: str, text: str) -> tuple[int, int]:
    """(input, output) tokens the fake reports for `text` when asked in its own dialect."""
    async with aiohttp.ClientSession() as http:
        if ptype == "anthropic":
            body = {"model": "up-0", "max_tokens": 64, "messages": [{"role": "user", "content": text}]}
            async with http.post(fp.url + "/v1/messages", json=body, headers={"x-api-key": "k"}) as resp:
                usage = (await resp.json())["usage"]
            return usage["input_tokens"], usage["output_tokens"]
        body = {"model": "up-0", "max_tokens": 64, "messages": [{"role": "user", "content": text}]}
        async with http.post(fp.openai_base + "/chat/completions", json=body,
                             headers={"authorization": "Bearer k"}) as resp:
            usage = (await resp.json())["usage"]
        return usage["prompt_tokens"], usage["completion_tokens"]


def check_rows(rows: list[dict[str, Any]], usages: list[Any], stream: int) -> None:
    for row, usage in zip(rows, usages):
        assert row["status"] == 200 and row["outcome"] == "ok" and row["endpoint"] == "messages"
        assert row["stream"] == stream and row["requested_model"] == "m"
        assert (row["provider"], row["upstream_model"], row["chosen_model"]) == ("p0", "up-0", "m")
        assert (row["prompt_tokens"], row["completion_tokens"]) == (usage.input_tokens, usage.output_tokens)
        assert row["cost_usd"] == pytest.approx(cost(usage.input_tokens, usage.output_tokens), rel=1e-6)


@pytest.mark.parametrize("ptype", ["openai", "anthropic"])
async def test_tool_conversation_create(fake_factory, sidecar_factory, ptype):
    fp, sc = await start(fake_factory, sidecar_factory, ptype)
    async with client(sc) as a:
        raw = await a.messages.with_raw_response.create(
            model="m", max_tokens=256, system="You are terse.", messages=ASK_TOOL, tools=TOOLS,
            tool_choice={"type": "auto"}, extra_body={"temperature": 0.2})
        first = await raw.parse()
        assert first.type == "message" and first.role == "assistant" and first.model == "m"
        assert first.id.startswith("msg_")
        assert first.stop_reason == "tool_use"
        block = first.content[-1]
        assert block.type == "tool_use" and block.name == "get_weather" and block.id
        assert isinstance(block.input["city"], str)
        assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
        assert raw.headers["x-routecar-provider"] == "p0" and raw.headers["x-routecar-model"] == "m"
        assert float(raw.headers["x-routecar-cost-usd"]) == pytest.approx(
            cost(first.usage.input_tokens, first.usage.output_tokens), rel=1e-6)

        second = await a.messages.create(model="m", max_tokens=256, messages=tool_result_turn(block), tools=TOOLS)
        assert second.stop_reason == "end_turn"
        assert [b.type for b in second.content] == ["text"]
        assert second.content[0].text.startswith("Fake answer from up:")

        plain = await a.messages.create(model="m", max_tokens=64, messages=[{"role": "user", "content": "hello there"}])
    assert (plain.usage.input_tokens, plain.usage.output_tokens) == await direct_usage(fp, ptype, "hello there")
    check_rows(await route_rows(sc, 3), [first.usage, second.usage, plain.usage], stream=0)


@pytest.mark.parametrize("ptype", ["openai", "anthropic"])
async def test_tool_conversation_stream(fake_factory, sidecar_factory, ptype):
    fp, sc = await start(fake_factory, sidecar_factory, ptype, chunks=5)
    async with client(sc) as a:
        async with a.messages.stream(model="m", max_tokens=256, messages=ASK_TOOL, tools=TOOLS) as stream:
            kinds = [event.type async for event in stream]
            first = await stream.get_final_message()
        assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
        assert "content_block_start" in kinds and "message_delta" in kinds
        assert first.stop_reason == "tool_use"
        block = first.content[-1]
        assert block.type == "tool_use" and block.name == "get_weather" and block.id
        assert isinstance(block.input["city"], str), "streamed input_json deltas must add up to the arguments"

        turn = tool_result_turn(block)
        async with a.messages.stream(model="m", max_tokens=256, messages=turn, tools=TOOLS) as stream:
            pieces = [text async for text in stream.text_stream]
            second = await stream.get_final_message()
        assert second.stop_reason == "end_turn" and [b.type for b in second.content] == ["text"]
        assert len(pieces) > 1 and "".join(pieces) == second.content[0].text
        assert second.content[0].text.startswith("Fake answer from up:")

        # The streamed answer, its usage included, is the one messages.create gives.
        whole = await a.messages.create(model="m", max_tokens=256, messages=ASK_TOOL, tools=TOOLS)
    assert whole.content[-1].input == block.input
    assert (first.usage.input_tokens, first.usage.output_tokens) == (whole.usage.input_tokens,
                                                                     whole.usage.output_tokens)
    rows = await route_rows(sc, 3)
    check_rows(rows[:2], [first.usage, second.usage], stream=1)
    assert all(r["ttft_ms"] is not None for r in rows[:2])


async def test_stream_text_matches_upstream_direct(fake_factory, sidecar_factory):
    """Anthropic in → Anthropic out is a double translation; the text and counts must survive it."""
    fp, sc = await start(fake_factory, sidecar_factory, "anthropic", chunks=6)
    ask = [{"role": "user", "content": "tell me about sidecars"}]
    async with client(sc) as a, anthropic.AsyncAnthropic(base_url=fp.url, api_key="k", max_retries=0) as direct:
        async with a.messages.stream(model="m", max_tokens=64, messages=ask, stop_sequences=["zzz"],
                                     extra_body={"top_k": 5, "top_p": 0.9}) as stream:
            via = await stream.get_final_message()
        async with direct.messages.stream(model="up-0", max_tokens=64, messages=ask) as stream:
            ref = await stream.get_final_message()
    assert via.content[0].text == ref.content[0].text
    assert (via.usage.input_tokens, via.usage.output_tokens) == (ref.usage.input_tokens, ref.usage.output_tokens)
    assert via.stop_reason == ref.stop_reason == "end_turn"
    assert via.model == "m"  # the app sees the name it asked for, not the upstream's
