"""Cascades through a running sidecar: checks, escalation, and streaming requests.

Step 0 (`haiku`) is served over the Anthropic protocol, which has no JSON mode: routecar only
adds an instruction, and the fake answers in prose, so a `json` check fails there. Step 1
(`gpt`) is OpenAI-compatible and honours `response_format`, so it passes.
"""

from __future__ import annotations

import anthropic
import openai
import orjson
import pytest

from tests.helpers import route_rows
from tests.routing_e2e import sidecar_yaml

MODELS = """
  haiku: {price: {input: 1, output: 5}, deployments: [{provider: anth, model: claude-x}]}
  gpt: {price: {input: 3, output: 15}, deployments: [{provider: oai, model: gpt-x}]}
"""
ROUTES = """
  extract: {strategy: cascade, candidates: [haiku, gpt], cascade: {checks: [json, finish_reason, non_empty]}}
  easy: {strategy: cascade, candidates: [haiku, gpt], cascade: {checks: [non_empty]}}
  never: {strategy: cascade, candidates: [haiku, gpt], cascade: {checks: [{regex: "^NEVER$"}]}}
"""
JSON_MODE = {"type": "json_object"}
ASK = [{"role": "user", "content": "extract the order id from: order 42 shipped"}]


@pytest.fixture
async def cascade(fake_factory, sidecar_factory):
    fa, fb = await fake_factory("a"), await fake_factory("b")
    providers = {"anth": ("anthropic", fa.url), "oai": ("openai", fb.openai_base)}
    sc = await sidecar_factory(sidecar_yaml(providers, MODELS, ROUTES))
    return sc, fa, fb


def oai(sc) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=sc.data_url + "/v1", api_key="app", max_retries=0)


async def test_json_check_escalates_to_the_next_step(cascade):
    sc, fa, fb = cascade
    raw = await oai(sc).chat.completions.with_raw_response.create(model="extract", messages=ASK,
                                                                  response_format=JSON_MODE)
    completion = raw.parse()
    assert isinstance(orjson.loads(completion.choices[0].message.content), dict)
    assert raw.headers["x-routecar-model"] == "gpt" and raw.headers["x-routecar-attempts"] == "2"
    assert (fa.requests, fb.requests) == (1, 1)
    row = (await route_rows(sc, 1))[0]
    assert row["escalations"] == 1 and row["outcome"] == "ok" and row["fallback"] == 0
    assert [a.get("check") for a in row["attempt_log"]] == ["failed: json", "passed"]
    assert [a["slug"] for a in row["attempt_log"]] == ["haiku", "gpt"]
    assert "escalated: json check failed on haiku" in row["reason"]
    usage = completion.usage
    final_only = (usage.prompt_tokens * 3 + usage.completion_tokens * 15) / 1e6
    assert row["cost_usd"] > final_only  # the discarded step-0 answer was paid for too
    assert float(raw.headers["x-routecar-cost-usd"]) == pytest.approx(row["cost_usd"])


async def test_a_passing_step_zero_ends_the_cascade(cascade):
    sc, fa, fb = cascade
    raw = await oai(sc).chat.completions.with_raw_response.create(model="easy", messages=ASK)
    assert raw.headers["x-routecar-model"] == "haiku" and fb.requests == 0
    row = (await route_rows(sc, 1))[0]
    assert row["escalations"] == 0 and row["attempt_log"][0]["check"] == "passed"


async def test_the_last_step_answers_even_when_it_fails(cascade):
    sc, fa, fb = cascade
    raw = await oai(sc).chat.completions.with_raw_response.create(model="never", messages=ASK)
    assert raw.parse().choices[0].message.content.startswith("Fake answer from b")
    row = (await route_rows(sc, 1))[0]
    assert row["escalations"] == 1 and row["chosen_model"] == "gpt"
    assert [a["check"] for a in row["attempt_log"]] == ["failed: regex", "failed: regex"]


async def test_a_step_that_cannot_answer_escalates(cascade):
    sc, fa, fb = cascade
    fa.set_faults({"status": 500})
    raw = await oai(sc).chat.completions.with_raw_response.create(model="easy", messages=ASK)
    assert raw.headers["x-routecar-model"] == "gpt"
    row = (await route_rows(sc, 1))[0]
    assert row["escalations"] == 1 and "step 0 could not answer (upstream_error)" in row["reason"]
    assert row["attempt_log"][0]["status"] == 500 and "check" not in row["attempt_log"][0]


async def test_streaming_checks_earlier_steps_then_streams_the_last_live(cascade):
    sc, fa, fb = cascade
    stream = await oai(sc).chat.completions.create(model="extract", messages=ASK, response_format=JSON_MODE,
                                                   stream=True)
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert isinstance(orjson.loads(text), dict)
    row = (await route_rows(sc, 1))[0]
    assert row["stream"] == 1 and row["escalations"] == 1 and row["chosen_model"] == "gpt"
    assert row["attempt_log"][0]["check"] == "failed: json" and "check" not in row["attempt_log"][1]
    assert row["ttft_ms"] is not None and row["cost_usd"] > 0


async def test_a_passing_step_is_replayed_as_a_stream(cascade):
    sc, fa, fb = cascade
    stream = await oai(sc).chat.completions.create(model="easy", messages=ASK, stream=True,
                                                   stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Fake answer from a")
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert fb.requests == 0
    row = (await route_rows(sc, 1))[0]
    assert row["stream"] == 1 and row["outcome"] == "ok" and row["chosen_model"] == "haiku"
    assert row["attempt_log"][0]["check"] == "passed" and row["ttft_ms"] is not None


async def test_messages_stream_replay_through_the_anthropic_encoder(cascade):
    sc, fa, fb = cascade
    client = anthropic.AsyncAnthropic(base_url=sc.data_url, api_key="app", max_retries=0)
    async with client.messages.stream(model="easy", max_tokens=200, messages=ASK) as stream:
        text = await stream.get_final_text()
        final = await stream.get_final_message()
    assert text.startswith("Fake answer from a")
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0
    row = (await route_rows(sc, 1))[0]
    assert row["endpoint"] == "messages" and row["stream"] == 1 and row["chosen_model"] == "haiku"
