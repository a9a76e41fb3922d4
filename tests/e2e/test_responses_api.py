"""`POST /v1/responses` through a real sidecar with the real openai SDK (`client.responses.create`,
unary and stream=True) against OpenAI (passed through), Anthropic and Gemini (translated)
deployments of the fake provider: text, images, function tools, routing rows and refusals."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.helpers import route_rows

TOOL = {"type": "function", "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
         "60e6kgAAAABJRU5ErkJggg==")


def config(fp: Any) -> str:
    return f"""
providers:
  po: {{type: openai, base_url: '{fp.openai_base}', api_key: sk-o}}
  pa: {{type: anthropic, base_url: '{fp.url}', api_key: sk-a}}
  pg: {{type: gemini, base_url: '{fp.url}', api_key: sk-g}}
models:
  openai-m:
    price: {{input: 1.0, output: 2.0}}
    capabilities: [chat, tools, vision, streaming]
    deployments: [{{provider: po, model: up-o}}]
  anthropic-m:
    price: {{input: 1.0, output: 2.0}}
    capabilities: [chat, tools, vision, streaming]
    deployments: [{{provider: pa, model: up-a}}]
  gemini-m:
    price: {{input: 1.0, output: 2.0}}
    capabilities: [chat, tools, vision, streaming]
    deployments: [{{provider: pg, model: up-g}}]
routes:
  any: {{strategy: ordered, candidates: [anthropic-m, openai-m]}}
route_log:
  path: "${{DB}}"
  flush_interval: 50ms
"""


@pytest.fixture
async def client(fake_factory, sidecar_factory):
    fp = await fake_factory("up", require_key=True)
    sc = await sidecar_factory(config(fp))
    async with openai.AsyncOpenAI(base_url=sc.data_url + "/v1", api_key="app", max_retries=0) as c:
        c.sidecar = sc  # type: ignore[attr-defined]
        yield c


@pytest.mark.parametrize("slug,provider", [("openai-m", "po"), ("anthropic-m", "pa"), ("gemini-m", "pg")])
async def test_unary_and_stream(client, slug, provider):
    raw = await client.responses.with_raw_response.create(model=slug, instructions="Be terse.", input="hello there")
    resp = raw.parse()
    assert resp.object == "response" and resp.status == "completed" and resp.model == slug
    assert "hello there" in resp.output_text and resp.output[0].type == "message"
    assert resp.usage.input_tokens > 0 and resp.usage.output_tokens > 0
    assert raw.headers["x-routecar-provider"] == provider and float(raw.headers["x-routecar-cost-usd"]) > 0

    stream = await client.responses.create(model=slug, input="hello there", stream=True)
    events = [event async for event in stream]
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert "response.output_item.added" in kinds and "response.output_item.done" in kinds
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    final = events[-1].response
    assert text == final.output_text == resp.output_text
    assert final.model == slug and final.usage.output_tokens == resp.usage.output_tokens
    assert [e.sequence_number for e in events] == list(range(len(events)))

    rows = await route_rows(client.sidecar, 2)
    for row, stream_flag in zip(rows, (0, 1)):
        assert row["endpoint"] == "responses" and row["outcome"] == "ok" and row["provider"] == provider
        assert row["stream"] == stream_flag and row["cost_usd"] > 0 and row["prompt_tokens"] > 0


@pytest.mark.parametrize("slug", ["openai-m", "anthropic-m", "gemini-m"])
async def test_function_tool_round_trip(client, slug):
    ask = [{"role": "user", "content": "Use the tool to get the weather in Paris"}]
    first = await client.responses.create(model=slug, input=ask, tools=[TOOL])
    call = first.output[-1]
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id
    follow = [*ask, {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
              {"type": "function_call_output", "call_id": call.call_id, "output": "21 C, sunny"}]
    second = await client.responses.create(model=slug, input=follow, tools=[TOOL])
    assert second.output[0].type == "message" and second.output_text

    stream = await client.responses.create(model=slug, input=ask, tools=[TOOL], stream=True)
    events = [e async for e in stream]
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    done = [e.item for e in events if e.type == "response.output_item.done"]
    assert done[-1].type == "function_call" and done[-1].arguments == args == call.arguments


async def test_images_translate(client):
    content = [{"type": "input_text", "text": "What is in this picture?"},
               {"type": "input_image", "image_url": PIXEL}]
    for slug in ("anthropic-m", "gemini-m", "openai-m"):
        resp = await client.responses.create(model=slug, input=[{"role": "user", "content": content}])
        assert resp.status == "completed" and resp.output_text


async def test_a_route_answers_with_the_slug_that_answered(client):
    resp = await client.responses.create(model="any", input="hello")
    assert resp.model == "anthropic-m"


@pytest.mark.parametrize("extra,param", [({"previous_response_id": "resp_123"}, "previous_response_id"),
                                         ({"store": True}, "store"),
                                         ({"tools": [{"type": "web_search"}]}, "tools")])
async def test_openai_only_features_are_refused_elsewhere(client, extra, param):
    for slug in ("anthropic-m", "gemini-m"):
        with pytest.raises(openai.BadRequestError) as err:
            await client.responses.create(model=slug, input="hello", **extra)
        assert err.value.body["param"] == param and param in err.value.body["message"]
    if param != "tools":  # the fake has no built-in tools; stored state is OpenAI's to keep
        resp = await client.responses.create(model="openai-m", input="hello", **extra)
        assert resp.status == "completed"


async def test_bad_requests_are_clear(client):
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.create(model="openai-m", input=None)  # type: ignore[arg-type]
    assert err.value.body["param"] == "input"
    with pytest.raises(openai.NotFoundError):
        await client.responses.create(model="nope", input="hi")


@pytest.mark.parametrize("ptype", ["openai", "anthropic"])
async def test_a_broken_stream_ends_with_an_error_event(fake_factory, sidecar_factory, ptype):
    fp = await fake_factory("up", chunks=6, faults={"disconnect_after_chunks": 2})
    sc = await sidecar_factory(config(fp))
    slug = f"{ptype}-m"
    async with openai.AsyncOpenAI(base_url=sc.data_url + "/v1", api_key="app", max_retries=0) as c:
        stream = await c.responses.create(model=slug, input="hello there", stream=True)
        kinds, texts = [], []
        with pytest.raises(openai.APIError) as info:
            async for event in stream:
                kinds.append(event.type)
                if event.type == "response.output_text.delta":
                    texts.append(event.delta)
    assert len(texts) == 2 and "response.completed" not in kinds
    assert "incomplete" in info.value.message
    row = (await route_rows(sc, 1))[0]
    assert row["outcome"] == "stream_broken" and row["endpoint"] == "responses"
