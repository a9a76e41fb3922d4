"""The fake provider's Responses dialect, through the real openai SDK."""

from __future__ import annotations

TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object",
                                                                  "properties": {"city": {"type": "string"}}}}


async def test_unary_and_stream(oai, fake):
    resp = await oai.responses.create(model="gpt-x", input="hello there")
    assert resp.status == "completed" and resp.model == "gpt-x" and "hello there" in resp.output_text
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens
    stream = await oai.responses.create(model="gpt-x", input="hello there", stream=True)
    events = [e async for e in stream]
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == resp.output_text
    assert fake.stats()["by_path"]["/v1/responses"] == 2


async def test_function_call_and_its_output(oai):
    ask = [{"role": "user", "content": "Use the tool for the weather in Paris"}]
    call = (await oai.responses.create(model="gpt-x", input=ask, tools=[TOOL])).output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    follow = [*ask, {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}]
    answer = await oai.responses.create(model="gpt-x", input=follow, tools=[TOOL])
    assert answer.output[0].type == "message"
