"""Anthropic fidelity through a real sidecar: `/v1/messages` to an Anthropic upstream passes the
app's bytes through bar `model` (cache_control, thinking, unknown fields) and answers with the
upstream's own bytes and events (thinking blocks, signatures, pings); translated paths refuse
what has no equivalent, by name; forward_headers; cache reads and writes priced."""

from __future__ import annotations

from typing import Any

import aiohttp
import anthropic
import pytest

from routecar.config.errors import ConfigError
from routecar.config.loader import parse_config
from tests.e2e.recording_upstream import MESSAGE, RESPONSE, RESPONSE_EVENTS, STREAM_EVENTS, Recorder
from tests.helpers import route_rows


def config(rec: Recorder, extra: str = "") -> str:
    return f"""
providers:
  ant: {{type: anthropic, base_url: '{rec.url}', api_key: sk-ant-provider}}
  oai: {{type: openai, base_url: '{rec.url}/v1', api_key: sk-oai-provider}}
  oai-lenient: {{type: openai, base_url: '{rec.url}/v1', api_key: sk-oai-provider, drop_unsupported_params: true}}
models:
  claude:
    price: {{input: 1.0, output: 2.0, cached_input: 0.1, cache_write: 1.25}}
    deployments: [{{provider: ant, model: up-0}}]
  gpt:
    price: {{input: 1.0, output: 2.0}}
    deployments: [{{provider: oai, model: up-1}}]
  gpt-lenient:
    deployments: [{{provider: oai-lenient, model: up-2}}]
routes:
  smart: {{strategy: ordered, candidates: [claude]}}
route_log:
  path: "${{DB}}"
  flush_interval: 50ms
{extra}
"""


# Written by hand: spacing, escapes and key order a re-serialization would change, and a
# field routecar has never heard of.
RAW_REQUEST = (b'{ "max_tokens" : 1024,\n  "thinking": {"type": "enabled", "budget_tokens": 1024},\n'
               b'  "system": [{"type": "text", "text": "Be terse \\u00e9.", "cache_control": {"type": "ephemeral"}}],\n'
               b'  "messages": [{"role": "user", "content": [{"type": "text", "text": "Capital of France?",'
               b' "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}],\n'
               b'  "model":   "claude",  "future_field": {"x": 1.50}, "temperature": 1 }')
APP_HEADERS = {"content-type": "application/json", "anthropic-version": "2023-06-01",
               "anthropic-beta": "interleaved-thinking-2025-05-14", "authorization": "Bearer app-secret",
               "x-api-key": "app-key", "cookie": "session=1", "openai-organization": "org-app",
               "x-routecar-tags": "team=a"}
COST = (10 * 1.0 + 2000 * 0.1 + 1000 * 1.25 + 7 * 2.0) / 1e6


def assert_app_secrets_stayed(seen: Any) -> None:
    assert seen.headers["x-api-key"] == "sk-ant-provider"
    assert "authorization" not in seen.headers and "cookie" not in seen.headers
    assert not any(k.startswith("x-routecar-") for k in seen.headers)


async def test_passthrough_request_and_answer_byte_for_byte(recorder, sidecar_factory):
    sc = await sidecar_factory(config(recorder))
    async with aiohttp.ClientSession() as http:
        async with http.post(sc.data_url + "/v1/messages", data=RAW_REQUEST, headers=APP_HEADERS) as resp:
            body = await resp.read()
            assert resp.status == 200, body
            assert resp.headers["x-routecar-upstream-model"] == "up-0"
            assert float(resp.headers["x-routecar-cost-usd"]) == pytest.approx(COST)
    seen = recorder.last("/v1/messages")
    assert seen.body == RAW_REQUEST.replace(b'"model":   "claude"', b'"model":   "up-0"')
    assert seen.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert "openai-organization" not in seen.headers  # not in an anthropic provider's default list
    assert_app_secrets_stayed(seen)
    assert body == MESSAGE.replace(b'"model": "up-0"', b'"model": "claude"')
    row = (await route_rows(sc, 1))[0]
    assert row["prompt_tokens"] == 3010 and row["completion_tokens"] == 7
    assert row["cost_usd"] == pytest.approx(COST)


async def test_sdk_sees_thinking_signatures_and_cache_usage(recorder, sidecar_factory):
    sc = await sidecar_factory(config(recorder))
    async with anthropic.AsyncAnthropic(base_url=sc.data_url, api_key="app-key", max_retries=0) as client:
        msg = await client.messages.create(
            model="claude", max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": [{"type": "text", "text": "Capital?",
                                                    "cache_control": {"type": "ephemeral"}}]}],
            extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"})
        assert [b.type for b in msg.content] == ["thinking", "text"]
        assert msg.content[0].signature == "sig-abc==" and msg.model == "claude"
        assert msg.usage.cache_read_input_tokens == 2000 and msg.usage.cache_creation_input_tokens == 1000
        sent = recorder.last("/v1/messages").json
        assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
        assert sent["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
        assert recorder.last("/v1/messages").headers["anthropic-beta"] == "prompt-caching-2024-07-31"

        async with client.messages.stream(
                model="smart", max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024},
                messages=[{"role": "user", "content": "Capital?"}]) as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].signature == "sig-abc==" and final.content[0].thinking == "Let me think."
    assert final.model == "claude"  # a route was asked for: the slug that answered
    assert "signature" in kinds and "thinking" in kinds
    assert final.usage.cache_read_input_tokens == 2000
    rows = await route_rows(sc, 2)
    assert rows[1]["stream"] == 1 and rows[1]["cost_usd"] == pytest.approx(COST)


async def test_stream_events_pass_through_as_they_came(recorder, sidecar_factory):
    sc = await sidecar_factory(config(recorder))
    body = {"model": "claude", "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as http:
        async with http.post(sc.data_url + "/v1/messages", json=body) as resp:
            raw = await resp.read()
    expected = b"".join(STREAM_EVENTS).replace(b'"model":"up-0"', b'"model":"claude"')
    assert raw == expected  # pings, signature deltas and all


async def test_translated_paths_refuse_or_drop_by_name(recorder, sidecar_factory):
    sc = await sidecar_factory(config(recorder))
    thinking = {"model": "gpt", "max_tokens": 64, "thinking": {"type": "enabled", "budget_tokens": 1024},
                "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as http:
        async with http.post(sc.data_url + "/v1/messages", json=thinking) as resp:
            err = await resp.json()
            assert resp.status == 400 and err["type"] == "error"
            assert "thinking" in err["error"]["message"]
        async with http.post(sc.data_url + "/v1/messages", json={**thinking, "model": "gpt-lenient"}) as resp:
            assert resp.status == 200 and resp.headers["x-routecar-dropped-params"] == "thinking"
        assert "thinking" not in recorder.last("/v1/chat/completions").json
        server_tool = {"model": "gpt", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}],
                       "tools": [{"type": "web_search_20250305", "name": "web_search"}]}
        async with http.post(sc.data_url + "/v1/messages", json=server_tool) as resp:
            err = await resp.json()
            assert resp.status == 400 and "tools.0" in err["error"]["message"]
        # The same request to an Anthropic deployment passes through.
        async with http.post(sc.data_url + "/v1/messages", json={**server_tool, "model": "claude"}) as resp:
            assert resp.status == 200
        assert recorder.last("/v1/messages").json["tools"] == server_tool["tools"]
        # cache_control is a caching hint with no effect on the answer: dropped on the way to OpenAI.
        cached = {"model": "gpt", "max_tokens": 64, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}]}
        async with http.post(sc.data_url + "/v1/messages", json=cached) as resp:
            assert resp.status == 200
        assert b"cache_control" not in recorder.last("/v1/chat/completions").body


async def test_openai_forward_headers_and_never_the_app_credentials(recorder, sidecar_factory):
    sc = await sidecar_factory(config(recorder))
    body = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as http:
        async with http.post(sc.data_url + "/v1/chat/completions", json=body, headers=APP_HEADERS) as resp:
            assert resp.status == 200
            assert (await resp.json())["model"] == "gpt"  # the slug asked for, not "up-1"
    seen = recorder.last("/v1/chat/completions")
    assert seen.headers["openai-organization"] == "org-app"
    assert seen.headers["authorization"] == "Bearer sk-oai-provider"
    assert "anthropic-beta" not in seen.headers and "cookie" not in seen.headers and "x-api-key" not in seen.headers


async def test_forward_headers_list_replaces_the_default(recorder, sidecar_factory):
    yaml = config(recorder).replace("api_key: sk-ant-provider}", "api_key: sk-ant-provider, forward_headers: [x-trace]}")
    sc = await sidecar_factory(yaml)
    async with aiohttp.ClientSession() as http:
        async with http.post(sc.data_url + "/v1/messages", data=RAW_REQUEST,
                             headers={**APP_HEADERS, "X-Trace": "t-1"}) as resp:
            assert resp.status == 200
    seen = recorder.last("/v1/messages")
    assert seen.headers["x-trace"] == "t-1" and "anthropic-beta" not in seen.headers
    assert_app_secrets_stayed(seen)


@pytest.mark.parametrize("name", ["authorization", "X-Api-Key", "api-key", "cookie", "connection",
                                  "transfer-encoding", "x-routecar-tags"])
def test_config_refuses_headers_that_are_never_forwarded(name):
    yaml = f"""
providers:
  p: {{type: openai, base_url: 'http://127.0.0.1:9/v1', forward_headers: [openai-project, {name}]}}
models:
  m: {{deployments: [{{provider: p}}]}}
"""
    with pytest.raises(ConfigError) as err:
        parse_config(yaml, source="t.yaml", env={})
    assert "providers.p.forward_headers[1]" in str(err.value) and "never forwarded" in str(err.value)


def test_forward_headers_defaults_per_type():
    yaml = """
providers:
  o: {type: openai, base_url: 'http://127.0.0.1:9/v1'}
  a: {type: anthropic, base_url: 'http://127.0.0.1:9'}
  g: {type: gemini, base_url: 'http://127.0.0.1:9'}
models:
  m: {deployments: [{provider: o}, {provider: a}, {provider: g}]}
"""
    providers = parse_config(yaml, source="t.yaml", env={}).providers
    assert providers["o"].forward_headers == ("openai-organization", "openai-project")
    assert providers["a"].forward_headers == ("anthropic-beta",)
    assert providers["g"].forward_headers == ()


async def test_responses_passthrough_to_openai_byte_for_byte(recorder, sidecar_factory):
    """The Responses API to an OpenAI deployment: the app's bytes bar `model`, and the
    upstream's answer and events bar `model` (reasoning items and unknown fields kept)."""
    sc = await sidecar_factory(config(recorder))
    raw = (b'{"model" : "gpt", "input": "hi \\u00e9", "store": true, "previous_response_id": "resp_0",'
           b' "include": ["reasoning.encrypted_content"], "future": 1.50}')
    async with aiohttp.ClientSession() as http:
        async with http.post(sc.data_url + "/v1/responses", data=raw, headers=APP_HEADERS) as resp:
            body = await resp.read()
            assert resp.status == 200 and resp.headers["x-routecar-upstream-model"] == "up-1"
        seen = recorder.last("/v1/responses")
        assert seen.body == raw.replace(b'"model" : "gpt"', b'"model" : "up-1"')
        assert seen.headers["openai-organization"] == "org-app"
        assert seen.headers["authorization"] == "Bearer sk-oai-provider"
        assert body == RESPONSE.replace(b'"model": "up-1"', b'"model": "gpt"')
        streamed = raw.replace(b'"future"', b'"stream": true, "future"')
        async with http.post(sc.data_url + "/v1/responses", data=streamed) as resp:
            events = await resp.read()
    assert events == b"".join(RESPONSE_EVENTS).replace(b'"model":"up-1"', b'"model":"gpt"')
    rows = await route_rows(sc, 2)
    assert [(r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [(5, 3), (5, 3)]
    assert rows[0]["cost_usd"] == pytest.approx((5 * 1.0 + 3 * 2.0) / 1e6)
